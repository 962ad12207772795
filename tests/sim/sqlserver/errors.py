"""SQL Server messages the world raises: number, class (severity), state and text.

Texts follow sys.messages as published (learn.microsoft.com/sql/relational-databases/errors-events/
database-engine-events-and-errors-*) and the seeds in /work/shared/seeds; where a number could not be
confirmed from a public source, README.md says so.
"""
from __future__ import annotations


class SqlError(Exception):
    """A statement-terminating error; `extra` are further messages SQL Server sends after it."""

    def __init__(self, number, klass, state, text, extra=()):
        super().__init__(f"Msg {number}: {text}")
        self.number, self.klass, self.state, self.text = number, klass, state, text
        self.extra = list(extra)   # [(number, class, state, text), ...]
        self.batch_abort = False

    def messages(self):
        return [(self.number, self.klass, self.state, self.text)] + self.extra


class SyntaxError_(SqlError):
    pass


def syntax_near(token_text: str, is_keyword: bool) -> SyntaxError_:
    if is_keyword:
        e = SyntaxError_(156, 15, 1, f"Incorrect syntax near the keyword '{token_text}'.")
    else:
        e = SyntaxError_(102, 15, 1, f"Incorrect syntax near '{token_text}'.")
    e.batch_abort = True
    return e


# World-only messages.  Numbers from 50000 up are user-defined messages in SQL Server (RAISERROR/THROW,
# sp_addmessage), so no statement of a real server produces them by itself: a client seeing one of these
# knows the answer comes from the test world, not from SQL Server.
NOT_MODELLED = 50100
INTERNAL_ERROR = 50101


def not_modelled(what: str) -> SqlError:
    """Valid T-SQL outside the modelled subset (README.md "T-SQL understood"): the batch does not run."""
    e = SqlError(NOT_MODELLED, 16, 1, f"{what} is valid T-SQL that the test world does not model; nothing of "
                                      "the batch ran (see tests/sim/sqlserver/README.md, T-SQL understood).")
    e.batch_abort = True
    return e


def internal_error(exc: BaseException) -> tuple:
    """(number, class, state, text) for a fault of the world itself while it answered a request."""
    return (INTERNAL_ERROR, 16, 1, f"The test world failed while answering this request ({type(exc).__name__}: "
                                   f"{exc}); the world's log has the traceback.")


def terminating(verb: str):
    # Msg 3013: "BACKUP DATABASE is terminating abnormally." (seed 002)
    return (3013, 16, 1, f"{verb} is terminating abnormally.")


def backup_error(number, klass, state, text, verb):
    return SqlError(number, klass, state, text, [terminating(verb)])


def no_permission():
    return SqlError(15247, 16, 1, "User does not have permission to perform this action.")


def login_exists(name):
    return SqlError(15025, 16, 2, f"The server principal '{name}' already exists.")


def cannot_login(verb, name):
    return SqlError(15151, 16, 1, f"Cannot {verb} the login '{name}', because it does not exist or you do not "
                                  "have permission.")


def not_valid_login(name):
    return SqlError(15007, 16, 1, f"'{name}' is not a valid login or you do not have permission.")


def invalid_object(name):
    return SqlError(208, 16, 1, f"Invalid object name '{name}'.")


def invalid_column(name):
    return SqlError(207, 16, 1, f"Invalid column name '{name}'.")


def must_declare(name):
    return SqlError(137, 15, 2, f'Must declare the scalar variable "{name}".')


def db_not_exist(name):
    return SqlError(911, 16, 1, f"Database '{name}' does not exist. Make sure that the name is entered correctly.")


# Seed 002 ("Backup and restore to URL using managed identities"), Error messages section.
PRIMARY_MI_NOT_SELECTED = (
    "The primary managed identity is not selected for this server. Enable the primary managed identity for "
    "Microsoft Entra authentication for this server. For more information see "
    "(https://aka.ms/sql-server-managed-identity-doc).")
