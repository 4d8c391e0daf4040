"""``infergy data``: inspect the curated tables and validate users' rows."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path



def register(sub) -> None:
    dp = sub.add_parser("data", help="inspect and validate the data tables",
                        description="The curated tables infergy learns from, and users' own rows.")
    dsub = dp.add_subparsers(dest="data_command", required=True, metavar="DATA_COMMAND")
    dv = dsub.add_parser("validate", help="check a CSV of your own rows against a table's schema",
                         description="Validate a CSV against a table's schema (inferred from its columns unless "
                         "--table is given). Exit 0 if valid, 1 with one line per problem if not.")
    dv.add_argument("file", type=Path, help="CSV file with a header row")
    dv.add_argument("--table", default=None, help="the table to check against (infergy data summary lists them) [inferred from the "
                    "columns]")
    dv.set_defaults(func=_cmd_data_validate)
    ds = dsub.add_parser("summary", help="what is in the data: rows per table, GPU, model and source")
    ds.add_argument("--data-add", type=Path, action="append", default=[], metavar="FILE",
                    help="add your own rows (CSV in a table's schema; repeatable)")
    ds.add_argument("--json", action="store_true", help="print the summary as JSON")
    ds.set_defaults(func=_cmd_data_summary)


def _cmd_data_validate(args: argparse.Namespace) -> int:
    from ..data import DataValidationError, load, validate_file
    from ..model.usage import added_row_usage, usage_lines

    try:
        table, df = validate_file(args.file, args.table)
        bundle = load(extra=[args.file])  # the rows beside the shipped tables: cross-table checks, then their use
    except DataValidationError as exc:
        print(f"{args.file}: INVALID ({len(exc.problems)} problem{'s' if len(exc.problems) != 1 else ''})")
        for line in exc.problems:
            print(f"  {line}")
        return 1
    usage = added_row_usage(bundle, [(table, len(df))])[0]
    used = int((usage["site"] != "").sum())
    print(f"{args.file}: valid '{table}' table, {len(df)} row{'s' if len(df) != 1 else ''}: {used} used by the fit, "
          f"{len(df) - used} not used")
    for line in usage_lines(usage):
        print(f"  {line}")
    return 0


def _cmd_data_summary(args: argparse.Namespace) -> int:
    from ..data import DataValidationError, load
    from ..data.summary import data_summary

    try:
        bundle = load(extra=args.data_add)
    except DataValidationError as exc:
        print("infergy: error: the data did not validate:", file=sys.stderr)
        for line in exc.problems:
            print(f"  {line}", file=sys.stderr)
        return 1
    summary = data_summary(bundle)
    if args.data_add:
        from ..data import validate_file
        from ..model.usage import added_row_usage, usage_lines

        added = [validate_file(p) for p in args.data_add]
        usages = added_row_usage(bundle, [(table, len(df)) for table, df in added])
        summary["added"] = [{"file": str(p), "table": table, "rows": len(df),
                             "used": int((u["site"] != "").sum()),
                             "row_usage": [{"row": int(r.row), "id": r.id, "site": r.site or None,
                                            "reason": r.reason or None, "operator": r.operator or None}
                                           for r in u.itertuples(index=False)]}
                            for p, (table, df), u in zip(args.data_add, added, usages)]
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    lines = [f"infergy data {summary['data_version']} (content hash {summary['content_hash'][:16]})"]
    for a, u in zip(summary.get("added", []), usages if args.data_add else []):
        lines.append(f"with your rows from {a['file']} ('{a['table']}', {a['rows']} rows: {a['used']} used by the "
                     f"fit, {a['rows'] - a['used']} not used):")
        lines.extend(f"  {line}" for line in usage_lines(u))
    lines += ["", f"{'table':16s} {'rows':>6s}"] + [f"{k:16s} {v:6d}" for k, v in summary["rows"].items()]

    def block(title: str, d: dict, limit: int = 12) -> None:
        lines.extend(["", title])
        items = list(d.items())
        lines.extend(f"  {k:38s} {v:6d}" for k, v in items[:limit])
        if len(items) > limit:
            lines.append(f"  ... and {len(items) - limit} more")

    thr = summary["throughput"]
    block(f"throughput rows by source ({thr['flagged_rows']} carry quality flags)", thr["by_source"])
    block("throughput rows by GPU", thr["by_gpu"], 20)
    block("throughput rows by precision", thr["by_precision"])
    block(f"throughput rows by model ({len(thr['by_model'])} models)", thr["by_model"])
    block("gpu_energy rows by GPU (boundary: gpu)", summary["gpu_energy"]["by_gpu"])
    block("production rows by kind/boundary", summary["production"]["by_kind_and_boundary"])
    block("pue rows by scope", summary["pue"]["by_scope"])
    print("\n".join(lines))
    return 0
