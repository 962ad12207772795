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
