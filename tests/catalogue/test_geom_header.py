"""The ``geom_header`` table stores the GEOM keys of ICD 3 as the reader returns them: its columns
are the acquisition id and exactly the fields of :class:`monitor.domain.GeomHeader`, with types
that hold them (one list of keys, kept in step by this test rather than by reading twice)."""

from __future__ import annotations

import dataclasses
from datetime import datetime

import sqlalchemy as sa

from monitor.catalogue.models import GeomHeaderRow
from monitor.domain import GeomHeader


def test_the_table_columns_are_the_dataclass_fields() -> None:
    table: sa.Table = GeomHeaderRow.__table__  # type: ignore[attr-defined]
    fields = {f.name: f.type for f in dataclasses.fields(GeomHeader)}
    assert [c.name for c in table.columns] == ["acquisition_id", *fields]
    python_types = {"float": float, "int": int, "datetime": datetime}
    for name, annotation in fields.items():
        sql_type = table.columns[name].type
        if isinstance(sql_type, sa.TypeDecorator):  # e.g. the aware-UTC datetime column
            sql_type = sql_type.impl_instance
        column_type = sql_type.python_type
        assert column_type is python_types[str(annotation)], name
