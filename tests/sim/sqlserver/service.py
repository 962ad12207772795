"""Entry points the world process calls (seam with tests/sim, see README.md):

    handle = start_sql_service(world, host="127.0.0.1")   # handle.ports == {vm_key: port}
    reset_sql_service(handle)                              # every instance back to its scenario
    stop_sql_service(handle)

The TDS listeners run on their own asyncio loop in one daemon thread, so the world may be threaded or
asyncio; statements execute in that loop's default executor.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import os
import resource
import threading

from .hadr import link_availability_groups
from .instance import Instance
from .server import TdsListener, make_ssl_context


class SqlService:
    def __init__(self, backend, host):
        self.backend = backend
        self.host = host
        self.instances = {}
        self.listeners = {}
        self.ports = {}
        self.ca_file = None
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run_loop, name="sim-sql-tds", daemon=True)

    def _run_loop(self):
        asyncio.set_event_loop(self.loop)
        self.loop.set_default_executor(concurrent.futures.ThreadPoolExecutor(max_workers=8,
                                                                             thread_name_prefix="sim-sql"))
        self.loop.run_forever()

    def call(self, coro, timeout=120):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def instance(self, vm_key) -> Instance:
        return self.instances[vm_key]

    def drop_connections(self, vm_key=None):
        def _drop():
            for key, lst in self.listeners.items():
                if vm_key in (None, key):
                    lst.drop_all()
        self.loop.call_soon_threadsafe(_drop)


def _raise_fd_limit(wanted):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def backend_for(world):
    if hasattr(world, "scenario_vms") and hasattr(world, "tds_fault"):
        return world
    from .adapter import WorldAdapter
    return WorldAdapter(world)


def start_sql_service(world, host="127.0.0.1"):
    backend = backend_for(world)
    vms = backend.scenario_vms()
    _raise_fd_limit(4 * len(vms) + 1024)
    svc = SqlService(backend, host)
    tls = backend.tls_files()
    if tls is None:
        from .certs import make_test_ca_and_cert
        ca, cert, key = make_test_ca_and_cert()
        tls = (cert, key, ca)
    svc.ca_file = tls[2]
    ssl_ctx = make_ssl_context(tls[0], tls[1])
    svc.thread.start()

    async def _start():
        for key, vm in vms.items():
            spec = dict(vm.get("sql") or {})
            if vm.get("os_type") and "host_platform" not in spec:
                spec["host_platform"] = "Linux" if str(vm["os_type"]).lower() == "linux" else "Windows"
            inst = Instance(key, vm.get("name", key), spec, backend)
            lst = TdsListener(inst, ssl_ctx)
            await lst.start(host)
            svc.instances[key] = inst
            svc.listeners[key] = lst
            svc.ports[key] = lst.port
    svc.call(_start())
    link_availability_groups(svc.instances.values())
    return svc


def reset_sql_service(handle: SqlService):
    handle.drop_connections()
    for inst in handle.instances.values():
        inst.reset()
    link_availability_groups(handle.instances.values())


def stop_sql_service(handle: SqlService):
    async def _stop():
        for lst in handle.listeners.values():
            await lst.stop()
        me = asyncio.current_task()
        pending = [t for t in asyncio.all_tasks() if t is not me]
        for t in pending:
            t.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
    try:
        handle.call(_stop(), timeout=30)
    finally:
        handle.loop.call_soon_threadsafe(handle.loop.stop)
        handle.thread.join(10)
        handle.loop.close()


__all__ = ["start_sql_service", "stop_sql_service", "reset_sql_service", "SqlService", "os"]
