"""Many rows written with one statement run for each (executemany), for the pollers that write
every node every poll: Django's bulk_update builds CASE expressions and bulk_create one long
INSERT, and at 32 nodes either costs the poll several times more. Cheapest inside a
transaction: on SQLite, each row written outside one is a commit of its own."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, cast

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import (
    BooleanField,
    CharField,
    Field,
    FloatField,
    ForeignKey,
    IntegerField,
    Model,
)


def update_rows(model: type[Model], field_names: Sequence[str],
                rows: Mapping[Any, Sequence[Any]]) -> None:
    """Set `field_names` of each row, primary key -> its values in that order."""
    if not rows:
        return
    connection = connections[DEFAULT_DB_ALIAS]
    fields = model_fields(model, [*field_names, "pk"])
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(field.column)} = %s" for field in fields[:-1])
    sql = (f"UPDATE {quote(model._meta.db_table)} SET {assignments} "
           f"WHERE {quote(fields[-1].column)} = %s")
    with connection.cursor() as cursor:
        cursor.executemany(sql, _prepared(fields, ([*values, pk] for pk, values in rows.items()),
                                          connection))


def keep_peaks(model: type[Model], key_names: Sequence[str], peak_name: str,
               carried_names: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Insert rows of key, peak and carried values, in that order; where the key (a unique
    constraint) has a row already, its peak and carried values are replaced only by a higher
    peak. No read first: one statement does both."""
    connection = connections[DEFAULT_DB_ALIAS]
    fields = model_fields(model, [*key_names, peak_name, *carried_names])
    keys, replaced = fields[:len(key_names)], fields[len(key_names):]
    prepared = _prepared(fields, rows, connection)
    if not prepared:
        return
    quote = connection.ops.quote_name
    table, peak = quote(model._meta.db_table), quote(replaced[0].column)
    columns = ", ".join(quote(field.column) for field in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    assignments = ", ".join(f"{quote(field.column)} = EXCLUDED.{quote(field.column)}"
                            for field in replaced)
    sql = (f"INSERT INTO {table} ({columns}) VALUES ({placeholders}) "
           f"ON CONFLICT ({', '.join(quote(field.column) for field in keys)}) "
           f"DO UPDATE SET {assignments} WHERE EXCLUDED.{peak} > {table}.{peak}")
    with connection.cursor() as cursor:
        cursor.executemany(sql, prepared)


def model_fields(model: type[Model], names: Sequence[str]) -> list[Field[Any, Any]]:
    """The model's fields of these names ("pk": its primary key), to write raw statements."""
    return [cast("Field[Any, Any]", model._meta.pk if name == "pk" else model._meta.get_field(name))
            for name in names]


def _prepared(fields: list[Field[Any, Any]], rows: Iterable[Sequence[Any]],
              connection: BaseDatabaseWrapper) -> list[list[Any]]:
    """The rows' values as the database takes them (a datetime as SQLite's text, say). A
    number, string or boolean in a column that stores it as it is goes in untouched, and each
    distinct other value of a column is prepared once: a poll's rows repeat their node, tier
    and bucket, and Django's preparing costs more than the writing."""
    as_is = [_types_stored_as_is(field) for field in fields]
    known: list[dict[tuple[type, Any], Any]] = [{} for _ in fields]
    prepared = []
    for values in rows:
        row = []
        for field, plain, column, value in zip(fields, as_is, known, values, strict=True):
            if value is None or type(value) in plain:
                row.append(value)
                continue
            key = (type(value), value)
            try:
                row.append(column[key])
            except KeyError:
                row.append(column.setdefault(key, field.get_db_prep_save(value, connection)))
            except TypeError:  # unhashable: a JSON value
                row.append(field.get_db_prep_save(value, connection))
        prepared.append(row)
    return prepared


def _types_stored_as_is(field: Field[Any, Any]) -> tuple[type, ...]:
    """The plain types that Django's preparing gives back unchanged in this field's column (an
    int in an integer column, a str in a text one)."""
    if isinstance(field, ForeignKey):
        return _types_stored_as_is(field.target_field)
    for kind, types in _AS_IS:
        if isinstance(field, kind):
            return types
    return ()


# BooleanField first: bool is an int, and an integer column's int is not a boolean's.
_AS_IS: list[tuple[type[Field[Any, Any]], tuple[type, ...]]] = [
    (BooleanField, (bool,)), (IntegerField, (int,)), (FloatField, (float,)), (CharField, (str,))]
