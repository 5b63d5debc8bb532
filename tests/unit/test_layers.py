"""The layering of DESIGN.md section 2: lower layers never import higher ones, pure layers do no IO, and
each third-party library has one importer."""
from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[2] / "gtm"

# module (top-level part under gtm) -> gtm modules it may import
ALLOWED = {
    "model": set(),
    "errors": set(),
    "files": set(),  # atomic writes, symlink-safe opens, permission checks
    "config": {"model", "errors", "steering"},  # steering: the policy registry (each policy parses its own keys)
    "steering": {"model", "errors"},
    "geoip": {"model"},
    "health": {"steering", "model", "errors", "files"},
    "state": {"model", "errors", "files"},
    "dns": {"steering", "dnssec", "model", "errors"},  # dnssec: the keys answers are signed with
    "route53": {"model", "errors"},
    # DNSSEC keys (their files) and the signed zones' published keys
    "dnssec": {"model", "errors", "files"},
    # the fleet: nodes' /v1/status (one type, both ends), override plans and their application
    "fleet": {"state", "model", "errors"},
    "drill": {"fleet", "state", "route53", "dns", "model", "errors"},
    "admin": {"health", "state", "steering", "model", "errors", "dns", "dnssec"},
    # one Snapshot, one Serving.swap(): the value every answer comes from and the one way it reaches the wire
    "serving": {"config", "dns", "dnssec", "geoip", "state", "steering", "model", "errors"},
    # processes: the pool, the worker (its own Serving), the channel, handoff, the loading child, shared
    # memory, memory policy; never the admin API (the worker's counts are gtm.dns.counts)
    "proc": {"dns", "serving", "config", "model", "errors"},
    # the control process's parts: the override watcher, probing, the node status, where queries are answered
    # (a DNS server here or the worker pool)
    "control": {"config", "health", "state", "steering", "serving", "fleet", "dns", "proc", "model", "errors",
                "files"},
    "runtime": {"config", "dns", "dnssec", "steering", "health", "state", "geoip", "admin", "route53", "proc",
                "serving", "control", "fleet", "model", "errors", "files"},
    "cli": None,  # everything
}
PURE = {"model", "config", "steering"}  # no sockets, clock or global randomness
IO_MODULES = {"socket", "asyncio", "time", "random", "urllib", "http", "ssl", "select", "selectors"}
PURE_MODULES = {"urllib.parse"}  # (string handling only)
# boto3: one importer per AWS service (Route53; DynamoDB for the override store)
ONLY_IMPORTER = {"dnslib": ("gtm/dns/codec.py",), "geoip2": ("gtm/geoip.py",),
                 "boto3": ("gtm/route53/aws.py", "gtm/state/dynamodb.py"), "yaml": ("gtm/config/yamlsrc.py",)}


def _imports(path: Path) -> set[str]:
    """Modules imported at run time (imports under ``if TYPE_CHECKING:`` are for annotations only)."""
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            node.body = []
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            if node.module == "gtm":  # from gtm import fleet: the module gtm.fleet (__version__ is no module)
                out.update(f"gtm.{a.name}" for a in node.names if not a.name.startswith("__"))
    return out


def _files() -> list[tuple[str, Path]]:
    out = []
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG)
        top = rel.parts[0].removesuffix(".py")
        if top in ("__init__", "__main__"):
            continue
        out.append((top, path))
    return out


def test_layers_import_only_downwards() -> None:
    bad = []
    files = _files()
    assert len(files) > 10
    for top, path in files:
        allowed = ALLOWED.get(top)
        assert top in ALLOWED, f"{path}: module {top} is missing from the layer table"
        if allowed is None:
            continue
        for mod in _imports(path):
            parts = mod.split(".")
            if parts[0] == "gtm" and len(parts) > 1 and parts[1] != top and parts[1] not in allowed:
                bad.append(f"{path.relative_to(PKG.parent)} imports {mod}")
    assert bad == []


def test_pure_layers_do_no_io() -> None:
    bad = [f"{path.relative_to(PKG.parent)} imports {mod}" for top, path in _files() if top in PURE
           for mod in _imports(path) if mod.split(".")[0] in IO_MODULES and mod not in PURE_MODULES]
    assert bad == []


def test_each_library_has_one_importer() -> None:
    bad = []
    for top, path in _files():
        rel = str(path.relative_to(PKG.parent))
        for mod in _imports(path):
            lib = mod.split(".")[0]
            if lib in ONLY_IMPORTER and rel not in ONLY_IMPORTER[lib]:
                bad.append(f"{rel} imports {lib}")
    assert bad == []


def test_answer_tables_are_swapped_in_one_place() -> None:
    """Serving.swap() is the one way new answers reach the wire: no other code assigns another object's table
    (a responder's), and a Responder sets its own only in __init__ (its first table)."""
    sites = []

    def visit(node: ast.AST, where: tuple[str, ...], path: Path) -> None:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            where = where + (node.name,)
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = list(node.targets)
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
            targets = [node.target]
        flat = [e for t in targets for e in (t.elts if isinstance(t, (ast.Tuple, ast.List)) else [t])]
        for t in flat:
            if not (isinstance(t, ast.Attribute) and t.attr == "table"):
                continue
            own = isinstance(t.value, ast.Name) and t.value.id == "self"
            # another object's table (a responder's, say); or a Responder changing its own after __init__
            if not own or ("Responder" in where and where[-1] != "__init__"):
                sites.append(f"{path.relative_to(PKG.parent)}:{'.'.join(where)}")
        for child in ast.iter_child_nodes(node):
            visit(child, where, path)

    for top, path in _files():
        visit(ast.parse(path.read_text(), str(path)), (), path)
    assert sites == ["gtm/serving.py:Serving.swap"]
