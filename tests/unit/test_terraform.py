"""terraform/ against the code it serves.

* The Route53 policy allows exactly the boto3 calls that gtm/route53/aws.py makes (read from its syntax tree), so
  a new call without its permission, or a permission nothing uses, fails here rather than in production.
* No wildcard actions; "*" resources only for the actions Route53 cannot scope; record reads and writes on the
  mirror's hosted zone only, health-check actions on health checks only.
* The override table is configured as the drills need it, and its policy stays on that table.
* Every variable has a description and a type; every reference to a variable or local is declared.
* Each example uses the module (source "../..") with arguments the module declares, and an aws provider with
  a region variable.
* ``terraform fmt -check -recursive terraform/`` is clean (skipped without a terraform binary).
"""
from __future__ import annotations

import ast
import ipaddress
import re
import shutil
import tempfile
import subprocess
from pathlib import Path
from typing import Any

import hcl2
import pytest

ROOT = Path(__file__).resolve().parents[2]
TERRAFORM = ROOT / "terraform"
AWS_PY = ROOT / "gtm" / "route53" / "aws.py"

# Route53 actions without resource-level permissions: the only ones a "*" resource is allowed for.
UNSCOPED_ROUTE53 = {"ListHostedZonesByName", "ListHealthChecks", "CreateHealthCheck", "ListCidrCollections"}
CIDR_ACTIONS = {"ListCidrLocations", "ListCidrBlocks", "CreateCidrCollection", "ChangeCidrCollection",
                "DeleteCidrCollection"}
RECORD_ACTIONS = {"ListResourceRecordSets", "ChangeResourceRecordSets"}
HEALTHCHECK_ACTIONS = {"UpdateHealthCheck", "DeleteHealthCheck", "ChangeTagsForResource"}
DYNAMODB_TABLE_ACTIONS = {"GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "ConditionCheckItem",
                          "DescribeTable"}
DYNAMODB_STREAM_ACTIONS = {"DescribeStream", "GetRecords", "GetShardIterator"}
META_ARGUMENTS = {"source", "version", "providers", "count", "for_each", "depends_on"}
DOCUMENTATION_NETS = [ipaddress.ip_network(n) for n in
                      ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")]


# -- reading HCL ---------------------------------------------------------------------------------------------
def unquote(text: str) -> str:
    """A string as HCL means it. python-hcl2 8 keeps a literal's quotes and escapes (and a heredoc's markers),
    7 does not; interpolations stay as ``${...}`` in both."""
    if len(text) >= 2 and text[0] == text[-1] == '"':
        text = re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t", "r": "\r"}.get(m.group(1), m.group(1)),
                      text[1:-1])
    heredoc = re.fullmatch(r"<<-?([A-Za-z_]+)\n(.*)\n\s*\1\s*", text, re.DOTALL)
    return heredoc.group(2) if heredoc else text


def normalize(value: Any) -> Any:
    """Parser output with quotes removed from keys and strings and its own markers (``__is_block__``...) dropped."""
    if isinstance(value, dict):
        return {unquote(k): normalize(v) for k, v in value.items() if not k.startswith("__")}
    if isinstance(value, list):
        return [normalize(v) for v in value]
    if isinstance(value, str):
        return unquote(value)
    return value


def parse(path: Path) -> dict[str, Any]:
    with path.open() as f:
        tree: dict[str, Any] = normalize(hcl2.load(f))
    return tree


def tf_files(directory: Path, recursive: bool) -> list[Path]:
    found = directory.rglob("*.tf") if recursive else directory.glob("*.tf")
    return sorted(p for p in found if ".terraform" not in p.parts)


def blocks(trees: list[dict[str, Any]], kind: str, labels: int) -> dict[tuple[str, ...], dict[str, Any]]:
    """Every ``kind`` block of ``trees`` by its labels, e.g. ("aws_iam_policy", "route53") for a resource."""
    out: dict[tuple[str, ...], dict[str, Any]] = {}

    def walk(node: Any, path: tuple[str, ...]) -> None:
        if len(path) == labels:
            assert path not in out, f"{kind} {' '.join(path)} is declared twice"
            out[path] = node
            return
        for key, sub in node.items():
            walk(sub, path + (key,))

    for tree in trees:
        for entry in tree.get(kind, []):
            walk(entry, ())
    return out


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def module_trees() -> list[dict[str, Any]]:
    return [parse(p) for p in tf_files(TERRAFORM, recursive=False)]


def module_locals(trees: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for tree in trees:
        for entry in tree.get("locals", []):
            for name, value in entry.items():
                assert name not in out, f"local.{name} is declared twice"
                out[name] = value
    return out


def resolve(value: str, local_values: dict[str, Any]) -> str:
    """``${local.x}`` replaced by the local's own expression (repeatedly), so that scoping can be checked."""
    for _ in range(10):
        m = re.fullmatch(r"\$\{local\.([A-Za-z0-9_]+)\}", value)
        if not m:
            return value
        value = str(local_values[m.group(1)])
    raise AssertionError(f"locals refer to each other in a loop at {value}")


def statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    """The statements of an aws_iam_policy_document, the ``dynamic "statement"`` ones included."""
    out = list(as_list(document.get("statement", [])))
    for dynamic in as_list(document.get("dynamic", [])):
        for body in as_list(dynamic.get("statement", [])):
            out += as_list(body.get("content", []))
    return out


def policy_document(name: str) -> dict[str, Any]:
    docs = blocks(module_trees(), "data", 2)
    assert ("aws_iam_policy_document", name) in docs, f'no data "aws_iam_policy_document" "{name}" in terraform/'
    return docs["aws_iam_policy_document", name]


def actions_of(statement: dict[str, Any]) -> list[str]:
    return [str(a) for a in as_list(statement.get("actions", []))]


def resources_of(statement: dict[str, Any], local_values: dict[str, Any]) -> list[str]:
    return [resolve(str(r), local_values) for r in as_list(statement.get("resources", []))]


# -- what the code calls -------------------------------------------------------------------------------------
def route53_calls() -> set[str]:
    """The Route53 API operations gtm/route53/aws.py uses: every ``r53.call("<method>", ...)``, as IAM action
    names (list_hosted_zones_by_name -> ListHostedZonesByName). Each must be a literal and one of the calls
    the ``Api`` protocol declares."""
    methods: set[str] = set()
    declared: set[str] = set()
    for node in ast.walk(ast.parse(AWS_PY.read_text(), str(AWS_PY))):
        if isinstance(node, ast.ClassDef) and node.name == "Api":
            declared |= {f.name for f in node.body if isinstance(f, ast.FunctionDef)}
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "call"
              and isinstance(node.func.value, ast.Name) and node.func.value.id == "r53"):
            assert node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str), \
                f"aws.py line {node.lineno}: r53.call(<not a literal>)"
            methods.add(node.args[0].value)
    assert methods <= declared, methods - declared
    return {"".join(part.capitalize() for part in m.split("_")) for m in methods}


# -- the tests -----------------------------------------------------------------------------------------------
def test_every_tf_file_parses() -> None:
    files = tf_files(TERRAFORM, recursive=True)
    names = {str(p.relative_to(TERRAFORM)) for p in files}
    assert {"versions.tf", "variables.tf", "outputs.tf", "examples/mirror/main.tf",
            "examples/delegation/main.tf"} <= names, names
    for path in files:
        assert parse(path), f"{path} parsed to nothing"


def test_route53_calls_are_derived_from_the_code() -> None:
    calls = route53_calls()
    assert "ChangeResourceRecordSets" in calls and "ListResourceRecordSets" in calls, calls
    assert "ListHostedZonesByName" in calls, calls  # snake_case to PascalCase, word by word
    assert len(calls) >= 8, calls


def test_route53_policy_allows_exactly_the_calls_of_aws_py() -> None:
    calls = route53_calls()
    granted: set[str] = set()
    for st in statements(policy_document("route53")):
        for action in actions_of(st):
            service, _, name = action.partition(":")
            assert service == "route53", f"{action}: the Route53 policy grants only route53 actions"
            granted.add(name)
    missing, unused = sorted(calls - granted), sorted(granted - calls)
    assert not missing and not unused, (f"terraform/iam.tf and gtm/route53/aws.py disagree: called but not allowed "
                                        f"{missing}, allowed but never called {unused}")


def test_policies_have_named_statements_and_no_wildcard_actions() -> None:
    docs = {labels[1]: doc for labels, doc in blocks(module_trees(), "data", 2).items()
            if labels[0] == "aws_iam_policy_document"}
    assert {"route53", "overrides"} <= set(docs), sorted(docs)
    for name, doc in docs.items():
        sids = [st.get("sid") for st in statements(doc)]
        assert all(isinstance(s, str) and re.fullmatch(r"[A-Za-z0-9]+", s) for s in sids), (name, sids)
        assert len(set(sids)) == len(sids), f"{name}: duplicate sids {sids}"
        for st in statements(doc):
            assert st.get("effect", "Allow") == "Allow", f"{name}/{st['sid']}: only Allow statements expected"
            assert "not_actions" not in st and "not_resources" not in st, f"{name}/{st['sid']}"
            assert actions_of(st), f"{name}/{st['sid']} has no actions"
            for action in actions_of(st):
                assert "*" not in action and "?" not in action, f"{name}/{st['sid']}: wildcard action {action}"


def test_route53_resources_are_scoped() -> None:
    local_values = module_locals(module_trees())
    by_sid = {st["sid"]: st for st in statements(policy_document("route53"))}
    for sid, st in by_sid.items():
        actions = {a.partition(":")[2] for a in actions_of(st)}
        resources = resources_of(st, local_values)
        assert resources, f"{sid} has no resources"
        if "*" in resources:
            assert actions <= UNSCOPED_ROUTE53, f"{sid}: {sorted(actions - UNSCOPED_ROUTE53)} on '*'"
        if actions & RECORD_ACTIONS:
            for r in resources:
                assert ":route53:::hostedzone/" in r and "*" not in r, f"{sid}: records scoped to {r}, not the zone"
                assert "local.zone_id" in r, f"{sid}: {r} is not the mirror's zone"
        if actions & HEALTHCHECK_ACTIONS:
            assert all(":route53:::healthcheck/" in r for r in resources), f"{sid}: {resources}"
        if actions & CIDR_ACTIONS:
            assert actions <= CIDR_ACTIONS and all(":route53:::cidrcollection/" in r for r in resources), \
                f"{sid}: {sorted(actions)} on {resources}"
    assert {"ReadZone", "WriteRecords"} <= set(by_sid), sorted(by_sid)
    assert [a.partition(":")[2] for a in actions_of(by_sid["WriteRecords"])] == ["ChangeResourceRecordSets"]


def test_record_writes_can_be_limited_to_the_managed_names() -> None:
    write = next(st for st in statements(policy_document("route53")) if st["sid"] == "WriteRecords")
    conditions = [c for d in as_list(write.get("dynamic", [])) for body in as_list(d.get("condition", []))
                  for c in as_list(body.get("content", []))]
    assert len(conditions) == 1, conditions
    assert conditions[0]["test"] == "ForAllValues:StringLike"
    assert conditions[0]["variable"] == "route53:ChangeResourceRecordSetsNormalizedRecordNames"
    variables = blocks(module_trees(), "variable", 1)
    assert variables["record_name_patterns",].get("default", "missing") is None  # no condition by default


def test_record_writes_are_limited_to_the_types_gtm_writes_and_never_acme_challenges() -> None:
    write = next(st for st in statements(policy_document("route53")) if st["sid"] == "WriteRecords")
    fixed = {(c["test"], c["variable"]): [unquote(v) for v in as_list(c["values"])]
             for c in as_list(write.get("condition", []))}
    assert fixed[("ForAllValues:StringEquals", "route53:ChangeResourceRecordSetsRecordTypes")] == \
        ["A", "AAAA", "TXT", "CNAME"]
    assert fixed[("ForAllValues:StringNotLike", "route53:ChangeResourceRecordSetsNormalizedRecordNames")] == \
        ["_acme-challenge.*", "*._acme-challenge.*"]
    # and gtm writes no other type: every record of the example's mirror is A, AAAA or TXT
    from gtm.config import load
    from gtm.route53.desired import desired
    from tests.support.route53 import public_example

    zones = public_example(Path(tempfile.mkdtemp(prefix="gtm-terraform-")))
    assert {r.type for r in desired(load([str(zones)]), "example.com", "gtm").records} == {"A", "AAAA", "TXT"}


def test_override_table() -> None:
    resources = blocks(module_trees(), "resource", 2)
    table = resources["aws_dynamodb_table", "overrides"]
    assert table["name"] == "${var.override_table_name}"
    assert table["billing_mode"] == "PAY_PER_REQUEST"
    assert (table["hash_key"], table["range_key"]) == ("pk", "sk")
    assert {(a["name"], a["type"]) for a in as_list(table["attribute"])} == {("pk", "S"), ("sk", "S")}
    assert as_list(table["point_in_time_recovery"])[0]["enabled"] is True
    assert as_list(table["server_side_encryption"])[0]["enabled"] is True
    assert table["stream_enabled"] is True and table["stream_view_type"] == "NEW_AND_OLD_IMAGES"
    assert table["deletion_protection_enabled"] is True
    default = blocks(module_trees(), "variable", 1)["override_table_name",]["default"]
    assert default == "gtm-overrides"


def test_override_policy_stays_on_its_table() -> None:
    seen: set[str] = set()
    for st in statements(policy_document("overrides")):
        actions = set()
        for action in actions_of(st):
            service, _, name = action.partition(":")
            assert service == "dynamodb", f"{st['sid']}: {action}"
            actions.add(name)
        seen |= actions
        allowed = DYNAMODB_TABLE_ACTIONS | DYNAMODB_STREAM_ACTIONS | {"ListStreams"}
        assert actions <= allowed, f"{st['sid']}: {sorted(actions - allowed)} are not needed"
        for r in as_list(st["resources"]):
            if r == "*":
                assert actions == {"ListStreams"}, f"{st['sid']}: {sorted(actions)} on '*'"
                continue
            assert "aws_dynamodb_table.overrides" in r, f"{st['sid']}: {r} is not the override table"
            if actions & DYNAMODB_STREAM_ACTIONS:
                assert actions <= DYNAMODB_STREAM_ACTIONS and r.endswith("/stream/*"), f"{st['sid']}: {r}"
            else:
                assert re.fullmatch(r"\$\{aws_dynamodb_table\.overrides\[0\]\.arn\}", r), f"{st['sid']}: {r}"
    assert DYNAMODB_TABLE_ACTIONS <= seen, sorted(DYNAMODB_TABLE_ACTIONS - seen)


def test_variables_have_descriptions_and_types() -> None:
    for path in tf_files(TERRAFORM, recursive=True):
        for (name,), body in blocks([parse(path)], "variable", 1).items():
            where = f"{path.relative_to(ROOT)}: variable {name}"
            assert isinstance(body.get("description"), str) and body["description"].strip(), f"{where}: description"
            assert body.get("type"), f"{where}: type"


def test_references_are_declared() -> None:
    """Each ``var.x`` and ``local.x`` in the module is declared (no terraform validate without providers here)."""
    trees = module_trees()
    variables = {name for (name,) in blocks(trees, "variable", 1)}
    local_names = set(module_locals(trees))
    for path in tf_files(TERRAFORM, recursive=False):
        text = "\n".join(line for line in path.read_text().splitlines() if not line.lstrip().startswith("#"))
        for kind, declared in (("var", variables), ("local", local_names)):
            used = set(re.findall(rf"\b{kind}\.([A-Za-z0-9_]+)", text))
            assert used <= declared, f"{path.name}: undeclared {kind}.{sorted(used - declared)}"


def test_examples_use_the_module() -> None:
    module_vars = blocks(module_trees(), "variable", 1)
    examples = sorted(p for p in (TERRAFORM / "examples").iterdir() if p.is_dir())
    assert {p.name for p in examples} >= {"mirror", "delegation"}, examples
    for example in examples:
        trees = [parse(p) for p in tf_files(example, recursive=False)]
        modules = blocks(trees, "module", 1)
        assert modules, f"{example.name}: no module block"
        for (name,), body in modules.items():
            where = f"examples/{example.name}: module {name}"
            assert body["source"] == "../..", f"{where}: source {body['source']}"
            unknown = set(body) - META_ARGUMENTS - {n for (n,) in module_vars}
            assert not unknown, f"{where}: the module has no variables {sorted(unknown)}"
        # (providers by name and alias: the module takes aws and aws.us_east_1, for Route53's DNSSEC key in KMS)
        providers = {(n, body.get("alias")): body for tree in trees for entry in tree.get("provider", [])
                     for n, body in entry.items()}
        assert ("aws", None) in providers, f"{example.name}: no provider aws"
        assert providers["aws", None]["region"] == "${var.region}", f"{example.name}: provider region"
        assert providers["aws", "us_east_1"]["region"] == "us-east-1", f"{example.name}: provider aws.us_east_1"
        assert ("region",) in blocks(trees, "variable", 1), f"{example.name}: no variable region"


def test_delegation_example_uses_documentation_addresses_with_glue_for_both_families() -> None:
    trees = [parse(p) for p in tf_files(TERRAFORM / "examples" / "delegation", recursive=False)]
    delegation = blocks(trees, "module", 1)["gtm",]["delegation"]
    subdomain = delegation["subdomain"]
    assert subdomain == "gtm.example.com"
    assert sorted(delegation["nameservers"]) == ["ns1.gtm.example.com", "ns2.gtm.example.com"]
    for host, addresses in delegation["nameservers"].items():
        assert host.endswith("." + subdomain), f"{host}: in-bailiwick, so glued"
        parsed = [ipaddress.ip_address(a) for a in addresses]
        assert {a.version for a in parsed} == {4, 6}, f"{host}: IPv4 and IPv6 glue"
        assert all(any(a in net for net in DOCUMENTATION_NETS) for a in parsed), f"{host}: {addresses}"


def test_terraform_fmt_is_clean() -> None:
    terraform = shutil.which("terraform")
    if terraform is None:
        pytest.skip("terraform is not installed: `terraform fmt -check` not run")
    out = subprocess.run([terraform, "fmt", "-check", "-recursive", "-diff", str(TERRAFORM)], cwd=ROOT, check=False,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, f"run `terraform fmt -recursive terraform/`:\n{out.stdout}{out.stderr}"


PROVIDERS = Path("/opt/tf-plugins")  # a local provider mirror (hashicorp/aws), where the machine has one


@pytest.mark.parametrize("example", ["mirror", "delegation"])
def test_examples_validate_against_the_aws_provider(example: str, tmp_path: Path) -> None:
    """`terraform init` from the local provider mirror (no network), then `terraform validate`: the provider's
    own schema checks every resource, argument and type in the module as each example uses it."""
    terraform = shutil.which("terraform")
    if terraform is None or not (PROVIDERS / "registry.terraform.io" / "hashicorp" / "aws").is_dir():
        pytest.skip("terraform or a local mirror of the hashicorp/aws provider is not on this machine")
    shutil.copytree(TERRAFORM, tmp_path / "terraform", ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*"))
    where = tmp_path / "terraform" / "examples" / example
    init = subprocess.run([terraform, "init", "-backend=false", "-input=false", "-no-color",
                           f"-plugin-dir={PROVIDERS}"], cwd=where, capture_output=True, text=True, timeout=240,
                          check=False)
    assert init.returncode == 0, init.stdout + init.stderr
    check = subprocess.run([terraform, "validate", "-no-color"], cwd=where, capture_output=True, text=True,
                           timeout=240, check=False)
    assert check.returncode == 0 and "The configuration is valid" in check.stdout, check.stdout + check.stderr


def test_the_mirror_examples_name_patterns_cover_every_name_gtm_writes_for_the_bundled_config() -> None:
    """The example limits record writes to name patterns; every rrset that `gtm route53 apply` would write for
    zones/ must match one of them (Route53 compares lower-case names without the trailing dot), or apply
    would be denied half-way."""
    import fnmatch

    from gtm.config import load
    from gtm.route53.desired import desired

    trees = [parse(p) for p in tf_files(TERRAFORM / "examples" / "mirror", recursive=False)]
    patterns = [unquote(p) for p in as_list(blocks(trees, "module", 1)["gtm",]["record_name_patterns"])]
    from tests.support.route53 import public_example

    zones = public_example(Path(tempfile.mkdtemp(prefix="gtm-terraform-")))  # public addresses: Route53 checks them
    written = {r.name.rstrip(".") for r in desired(load([str(zones)]), "example.com", "gtm").records}
    written.add("_gtm-lock.example.com")  # the apply lock
    assert len(written) > 10
    unmatched = sorted(n for n in written if not any(fnmatch.fnmatchcase(n, p) for p in patterns))
    assert not unmatched, unmatched


def test_nodes_get_a_read_only_policy_that_covers_what_a_node_calls() -> None:
    """Before: nodes were given the operators' policy (PutItem, UpdateItem, DeleteItem on the override table):
    a node's stolen credentials could drain a region. A node only reads the state item (DynamoStore.read and
    .token: GetItem)."""
    node_calls = set()
    source = (ROOT / "gtm" / "state" / "dynamodb.py").read_text()
    for method in ("read", "token"):
        body = source.split(f"    def {method}(self", 1)[1].split("\n    def ", 1)[0]
        node_calls |= set(re.findall(r'self\._call\("(\w+)"', body))
    assert node_calls == {"GetItem"}, node_calls
    granted = set()
    for st in statements(policy_document("overrides_read")):
        for action in actions_of(st):
            service, _, name = action.partition(":")
            assert service == "dynamodb", action
            granted.add(name)
    assert granted & DYNAMODB_TABLE_ACTIONS == node_calls
    assert granted - node_calls <= DYNAMODB_STREAM_ACTIONS  # (following the stream, when enabled)
    assert not granted & {"PutItem", "UpdateItem", "DeleteItem", "ConditionCheckItem"}


def test_route53_dnssec_is_a_us_east_1_p256_kms_key_a_key_signing_key_and_zone_signing() -> None:
    """route53_dnssec: the KMS key Route53 requires (ECC_NIST_P256, SIGN_VERIFY, through the us-east-1 provider),
    usable by Route53's DNSSEC service for this account only; the key-signing key on the mirror's zone; signing;
    the DS as an output. Off by default."""
    trees = module_trees()
    variables = blocks(trees, "variable", 1)
    assert variables["route53_dnssec",]["default"] is False
    resources = blocks(trees, "resource", 2)
    kms = resources["aws_kms_key", "dnssec"]
    assert (kms["customer_master_key_spec"], kms["key_usage"], kms["provider"]) == (
        "ECC_NIST_P256", "SIGN_VERIFY", "${aws.us_east_1}")
    assert kms["count"] == "${var.route53_dnssec ? 1 : 0}"
    ksk = resources["aws_route53_key_signing_key", "this"]
    assert ksk["key_management_service_arn"] == "${aws_kms_key.dnssec[0].arn}" and ksk["status"] == "ACTIVE"
    assert resources["aws_route53_hosted_zone_dnssec", "this"]["signing_status"] == "SIGNING"
    doc = blocks(trees, "data", 2)["aws_iam_policy_document", "dnssec_kms"]
    by_sid = {st["sid"]: st for st in statements(doc)}
    assert set(actions_of(by_sid["Route53DnssecSigns"])) == {"kms:DescribeKey", "kms:GetPublicKey", "kms:Sign"}
    assert "kms:PutKeyPolicy" in actions_of(by_sid["AccountAdministersTheKey"])  # never locked out of its policy
    assert "aws_route53_key_signing_key.this[*].ds_record" in str(blocks(trees, "output", 1)["route53_ds_record",])
