"""One schema for the files of a parquet table: columns every file holds, types every file converts to.

pyarrow takes a folder's schema from its first file; a column missing there
would vanish, and a column typed differently in a later file would convert
differently batch by batch (an id column int in one file and text in
another). Reading every footer up front (never the data) finds both, names
the column and the files, and gives the one schema every batch is read with.
"""
from __future__ import annotations

from collections import Counter


def file_schemas(dataset) -> dict:
    """``{path: schema}`` of every file, from the parquet footers alone (pyarrow caches them on the fragments)."""
    return {fragment.path: _file_schema(fragment) for fragment in dataset.get_fragments()}


def _file_schema(fragment):
    import pyarrow as pa

    try:
        return fragment.physical_schema
    except (pa.ArrowException, OSError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ValueError(
            f"Cannot read {fragment.path!r} as parquet ({reason}); remove files that are not the table's "
            "parquet files from its folder, or write the file again."
        ) from None


def inferred_schema(dataset) -> bool:
    """Whether ``dataset`` has the schema pyarrow infers: the first file's, then the partition fields."""
    import pyarrow as pa

    fragment = next(iter(dataset.get_fragments()), None)
    if fragment is None:
        return False
    first = _file_schema(fragment)
    partitions = [f for f in dataset.partitioning.schema if f.name not in first.names] if dataset.partitioning else []
    return dataset.schema.equals(pa.schema(list(first) + partitions))


def with_partitions(schema, dataset):
    """``schema`` and the fields of ``dataset`` that no file holds (partition fields)."""
    import pyarrow as pa

    return pa.schema(list(schema) + [f for f in dataset.schema if f.name not in schema.names], metadata=schema.metadata)


def unified_schema(schemas: dict):
    """The one schema of files ``{path: schema}``, so that every batch converts as the whole table does.

    A column some files lack is an error; so is a column whose types cannot be unified losslessly
    without changing the field kind FieldEncoder infers (:func:`common_type`). Columns keep the first
    file's order and metadata (pandas reads its dtypes from it).
    """
    import pyarrow as pa

    types: dict[str, dict] = {}  # column -> {type: the first file with it}
    holders = Counter()
    for file, schema in schemas.items():
        for field in schema:
            types.setdefault(field.name, {}).setdefault(field.type, file)
        holders.update(schema.names)
    for column, count in holders.items():
        if count < len(schemas):
            lacking = [file for file, schema in schemas.items() if schema.get_field_index(column) < 0]
            raise ValueError(_missing_message(column, lacking, len(schemas)))
    first = next(iter(schemas.values()))
    return pa.schema([pa.field(c, _column_type(c, types[c])) for c in types], metadata=first.metadata)


def _missing_message(column: str, lacking: list, n_files: int) -> str:
    shown = ", ".join(repr(f) for f in lacking[:3]) + (f" and {len(lacking) - 3} more" if len(lacking) > 3 else "")
    return (
        f"Column {column!r} is in {n_files - len(lacking)} of the {n_files} parquet files but not in {shown}: "
        "write it into every file (null where unknown), or pass pyarrow.dataset.dataset(path, schema=...) "
        "with a schema that leaves it out or declares it (read as null where a file lacks it)."
    )


def _column_type(column: str, typed: dict):
    """The common type of one column's ``{type: first file}``; a pair that does not unify is an error."""
    pairs = list(typed.items())
    for i, (type_a, file_a) in enumerate(pairs):
        for type_b, file_b in pairs[i + 1:]:
            if common_type(type_a, type_b) is None:
                raise ValueError(_conflict_message(column, type_a, file_a, type_b, file_b))
    unified = pairs[0][0]
    for type_b, _ in pairs[1:]:
        unified = common_type(unified, type_b)
    return unified


def _conflict_message(column: str, type_a, file_a, type_b, file_b) -> str:
    import pyarrow.types as t

    numbers = {type_a, type_b}
    why = ""
    if all(t.is_integer(x) or t.is_floating(x) for x in numbers) and any(t.is_floating(x) for x in numbers):
        why = "an integer column is encoded as categorical and a float one as numeric, so "
    return (
        f"Column {column!r} is {type_a} in {file_a!r} but {type_b} in {file_b!r}: {why}cast it to one type "
        "when writing the files, or pass pyarrow.dataset.dataset(path, schema=...) declaring its type."
    )


def common_type(a, b):
    """The type both ``a`` and ``b`` convert to without changing a value or the inferred kind; None if none.

    Integers widen (unsigned into a wider signed type when mixed), floats widen, string and large_string
    meet as large_string (binary likewise), lists unify their items, and null (a column all null in one
    file) takes the other's type. Integer and float do not mix: FieldEncoder makes one categorical and
    the other numeric, and which one a fit saw would depend on the file order.
    """
    import pyarrow as pa
    import pyarrow.types as t

    if a == b or t.is_null(b):
        return a
    if t.is_null(a):
        return b
    if t.is_integer(a) and t.is_integer(b):
        return _common_integer(a, b)
    if t.is_floating(a) and t.is_floating(b):
        return max(a, b, key=lambda x: x.bit_width)
    for family, wide in ((lambda x: t.is_string(x) or t.is_large_string(x), pa.large_string()),
                         (lambda x: t.is_binary(x) or t.is_large_binary(x), pa.large_binary())):
        if family(a) and family(b):
            return wide
    lists = (t.is_list, t.is_large_list)
    if any(f(a) for f in lists) and any(f(b) for f in lists):
        item = common_type(a.value_type, b.value_type)
        large = t.is_large_list(a) or t.is_large_list(b)
        return None if item is None else (pa.large_list(item) if large else pa.list_(item))
    return None


def _common_integer(a, b):
    """The narrowest integer type holding every value of integer types ``a`` and ``b``; None past 64 bits."""
    import pyarrow as pa
    import pyarrow.types as t

    signed = [x.bit_width for x in (a, b) if t.is_signed_integer(x)]
    unsigned = [x.bit_width for x in (a, b) if t.is_unsigned_integer(x)]
    if not signed:
        return {8: pa.uint8(), 16: pa.uint16(), 32: pa.uint32(), 64: pa.uint64()}[max(unsigned)]
    width = max(signed + [2 * w for w in unsigned])
    return {8: pa.int8(), 16: pa.int16(), 32: pa.int32(), 64: pa.int64()}.get(width)
