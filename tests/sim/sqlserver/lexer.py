"""T-SQL tokenizer (identifiers, [quoted], "quoted", N'strings', numbers, @vars, @@globals, operators)."""
from __future__ import annotations

import re

# Reserved keywords of T-SQL (learn.microsoft.com/sql/t-sql/language-elements/reserved-keywords-transact-sql):
# an unexpected one answers Msg 156 instead of Msg 102.
RESERVED = set("""ADD ALL ALTER AND ANY AS ASC AUTHORIZATION BACKUP BEGIN BETWEEN BREAK BROWSE BULK BY CASCADE
CASE CHECK CHECKPOINT CLOSE CLUSTERED COALESCE COLLATE COLUMN COMMIT COMPUTE CONSTRAINT CONTAINS CONTAINSTABLE
CONTINUE CONVERT CREATE CROSS CURRENT CURRENT_DATE CURRENT_TIME CURRENT_TIMESTAMP CURRENT_USER CURSOR DATABASE
DBCC DEALLOCATE DECLARE DEFAULT DELETE DENY DESC DISK DISTINCT DISTRIBUTED DOUBLE DROP DUMP ELSE END ERRLVL
ESCAPE EXCEPT EXEC EXECUTE EXISTS EXIT EXTERNAL FETCH FILE FILLFACTOR FOR FOREIGN FREETEXT FREETEXTTABLE FROM
FULL FUNCTION GOTO GRANT GROUP HAVING HOLDLOCK IDENTITY IDENTITY_INSERT IDENTITYCOL IF IN INDEX INNER INSERT
INTERSECT INTO IS JOIN KEY KILL LEFT LIKE LINENO LOAD MERGE NATIONAL NOCHECK NONCLUSTERED NOT NULL NULLIF OF
OFF OFFSETS ON OPEN OPENDATASOURCE OPENQUERY OPENROWSET OPENXML OPTION OR ORDER OUTER OVER PERCENT PIVOT PLAN
PRECISION PRIMARY PRINT PROC PROCEDURE PUBLIC RAISERROR READ READTEXT RECONFIGURE REFERENCES REPLICATION
RESTORE RESTRICT RETURN REVERT REVOKE RIGHT ROLLBACK ROWCOUNT ROWGUIDCOL RULE SAVE SCHEMA SECURITYAUDIT SELECT
SEMANTICKEYPHRASETABLE SESSION_USER SET SETUSER SHUTDOWN SOME STATISTICS SYSTEM_USER TABLE TABLESAMPLE TEXTSIZE
THEN TO TOP TRAN TRANSACTION TRIGGER TRUNCATE TRY_CONVERT TSEQUAL UNION UNIQUE UNPIVOT UPDATE UPDATETEXT USE
USER VALUES VARYING VIEW WAITFOR WHEN WHERE WHILE WITH WITHIN WRITETEXT""".split())

_TOKEN = re.compile(r"""
    (?P<ws>\s+|--[^\n]*|/\*.*?\*/)
  | (?P<str>N?'(?:[^']|'')*')
  | (?P<bad_str>N?'(?:[^']|'')*$)
  | (?P<bracket>\[(?:[^\]]|\]\])*\])
  | (?P<dquote>"(?:[^"]|"")*")
  | (?P<hex>0x[0-9A-Fa-f]*)
  | (?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<var>@@?[A-Za-z_#$@0-9]+)
  | (?P<word>[A-Za-z_#][A-Za-z0-9_#$@]*)
  | (?P<op>::|<>|!=|>=|<=|!<|!>|[=<>(),.;*+\-/%~&|^])
""", re.S | re.X)


class Token:
    __slots__ = ("kind", "value", "text", "pos", "line")

    def __init__(self, kind, value, text, pos, line):
        self.kind, self.value, self.text, self.pos, self.line = kind, value, text, pos, line

    @property
    def upper(self):
        return self.value.upper() if self.kind == "word" else None

    def __repr__(self):
        return f"Token({self.kind},{self.value!r})"


class LexError(Exception):
    def __init__(self, text, line):
        super().__init__(text)
        self.text, self.line = text, line


def tokenize(sql: str) -> list[Token]:
    out = []
    pos = 0
    line = 1
    while pos < len(sql):
        m = _TOKEN.match(sql, pos)
        if not m:
            raise LexError(sql[pos:pos + 20].split()[0] if sql[pos:].strip() else sql[pos], line)
        kind = m.lastgroup
        text = m.group()
        if kind == "bad_str":
            raise LexError("unclosed", line)
        if kind != "ws":
            if kind == "str":
                national = text[0] in "Nn"
                value = text[2 if national else 1:-1].replace("''", "'")
                out.append(Token("str", value, text, pos, line))
            elif kind == "bracket":
                out.append(Token("ident", text[1:-1].replace("]]", "]"), text, pos, line))
            elif kind == "dquote":
                out.append(Token("ident", text[1:-1].replace('""', '"'), text, pos, line))
            elif kind == "hex":
                out.append(Token("hex", bytes.fromhex(text[2:] if len(text) % 2 == 0 else "0" + text[2:]),
                                 text, pos, line))
            elif kind == "num":
                value = float(text) if any(c in text for c in ".eE") else int(text)
                out.append(Token("num", value, text, pos, line))
            else:
                out.append(Token(kind, text, text, pos, line))
        line += text.count("\n")
        pos = m.end()
    out.append(Token("eof", "", "", len(sql), line))
    return out
