"""Deployment files hold together: Prometheus rules (promtool), Alertmanager routing (amtool),
docker compose + Dockerfile, and the Kubernetes manifests, checked against the code's settings."""

from __future__ import annotations

import inspect
import json
import re
import shutil
import subprocess
from dataclasses import fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from streams.rules import load_rules
from streams.settings import PREFIX, Settings

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
RULES_DIR = DEPLOY / "prometheus" / "rules"
RULES = RULES_DIR / "wirewatch.yml"
RULE_TESTS = RULES_DIR / "tests"
LOCAL_AM = DEPLOY / "alertmanager" / "alertmanager.yml"
COMPOSE_AM = DEPLOY / "docker" / "alertmanager.yml"
AM_ENTRYPOINT = DEPLOY / "docker" / "alertmanager-entrypoint.sh"
COMPOSE = DEPLOY / "docker-compose.yml"
DOCKERFILE = DEPLOY / "Dockerfile"
K8S = DEPLOY / "k8s"

SETTINGS_ENV = set(Settings().env_names())
SECRET_FIELDS = {PREFIX + f.name.upper() for f in fields(Settings) if "Secret" in str(f.type)}
SAMPLE_URLS = {
    "ALERT_WEBHOOK_URL_OPERATORS": "https://chat.example.org/hooks/ops?token=a&b=c",
    "ALERT_WEBHOOK_URL_CRITICAL": "https://pager.example.org/v2/enqueue|wirewatch",
    "ALERT_WEBHOOK_URL_NEWSDESK": "https://news.example.org/hooks/wirewatch",
}


def tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"`{name}` is needed to check the deployment files; install it with "
                    f"`apt-get install {package}` (deploy/local/stack up installs it too)",
                    pytrace=False)
    return path


def run(*argv: str, cwd: Path | None = None,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=120, cwd=cwd,
                          env=env)


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


# ============================================================================ Prometheus rules


def alert_rules() -> list[dict[str, Any]]:
    return [r for g in load_yaml(RULES)["groups"] for r in g["rules"] if "alert" in r]


def test_every_file_prometheus_loads_is_a_valid_rule_file() -> None:
    promtool = tool("promtool", "prometheus")
    loaded = sorted(RULES_DIR.glob("*.yml"))  # the glob of deploy/prometheus/prometheus.yml
    assert RULES in loaded
    proc = run(promtool, "check", "rules", *map(str, loaded))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_promtool_unit_tests_pass() -> None:
    promtool = tool("promtool", "prometheus")
    tests = sorted(RULE_TESTS.glob("*_test.yml"))
    assert tests, f"no promtool tests in {RULE_TESTS}"
    proc = run(promtool, "test", "rules", *map(str, tests))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout


def test_promtool_tests_catch_a_changed_threshold(tmp_path: Path) -> None:
    promtool = tool("promtool", "prometheus")
    changed = RULES.read_text().replace(
        'rate(wirewatch_deadletter_total{job="wirewatch"}[5m])) > 0.05',
        'rate(wirewatch_deadletter_total{job="wirewatch"}[5m])) > 0.5')
    assert changed != RULES.read_text()
    (tmp_path / "tests").mkdir()
    (tmp_path / "wirewatch.yml").write_text(changed)
    for test in RULE_TESTS.glob("*_test.yml"):
        shutil.copy(test, tmp_path / "tests" / test.name)
    proc = run(promtool, "test", "rules", *map(str, (tmp_path / "tests").glob("*_test.yml")))
    assert proc.returncode != 0
    assert "WirewatchDeadLetterSpike" in proc.stdout + proc.stderr


def test_every_alert_has_a_firing_promtool_case() -> None:
    fired: set[str] = set()
    quiet: set[str] = set()
    for test_file in RULE_TESTS.glob("*_test.yml"):
        for case in load_yaml(test_file)["tests"]:
            for check in case.get("alert_rule_test", []):
                (fired if check["exp_alerts"] else quiet).add(check["alertname"])
    names = {r["alert"] for r in alert_rules()}
    assert names == fired, f"alerts without a case where they fire: {names - fired}"
    assert names == quiet, f"alerts without a case where they must stay quiet: {names - quiet}"


def test_alerts_carry_routing_labels_and_runbook_annotations() -> None:
    names = set()
    for rule in alert_rules():
        names.add(rule["alert"])
        assert rule["alert"].startswith("Wirewatch"), rule["alert"]
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}, rule["alert"]
        assert rule["labels"]["team"] in {"operators", "newsdesk"}, rule["alert"]
        notes = rule["annotations"]
        assert set(notes) >= {"summary", "description"}, rule["alert"]
        assert "What to do" in notes["description"], rule["alert"]
    assert names >= {"WirewatchPipelineStalled", "WirewatchDeadLetterSpike",
                     "WirewatchElasticsearchErrors", "WirewatchConsumerLagHigh",
                     "WirewatchWorkerDown", "WirewatchViolenceBurst"}


def test_rules_read_only_metrics_the_worker_exports() -> None:
    from prometheus_client import REGISTRY

    import streams.metrics  # noqa: F401 - registers every wirewatch metric

    exported = {sample.name for metric in REGISTRY.collect() for sample in metric.samples}
    exported |= {m.name for m in REGISTRY.collect()}
    exported |= {name + "_total" for name in exported}
    text = " ".join(str(r["expr"]) for g in load_yaml(RULES)["groups"] for r in g["rules"])
    used = set(re.findall(r"\b(wirewatch_[a-z_]+)\b", text))
    recorded = {r["record"].split(":")[1] for g in load_yaml(RULES)["groups"]
                for r in g["rules"] if "record" in r}
    assert used, "the rules read no wirewatch metric"
    assert used - recorded - exported == set()


def render_local(template: Path, tmp_path: Path) -> Path:
    """The template as deploy/local/stack renders it (default ports)."""
    values = {"METRICS_PORT": "19108", "ALERTMANAGER_PORT": "19095", "PROMETHEUS_PORT": "19090",
              "ALERT_WEBHOOK_PORT": "19096", "STATE_DIR": str(tmp_path / "state"),
              "RULES_DIR": str(RULES_DIR)}
    text = template.read_text()
    for key, value in values.items():
        text = text.replace("${" + key + "}", value)
    left = re.findall(r"\$\{[A-Z_]+\}", text)
    assert not left, f"{template} has placeholders deploy/local/stack does not fill: {left}"
    target = tmp_path / template.name
    target.write_text(text)
    return target


def test_local_prometheus_config_is_valid_and_reads_the_extra_rules_dir(tmp_path: Path) -> None:
    promtool = tool("promtool", "prometheus")
    config = render_local(DEPLOY / "prometheus" / "prometheus.yml", tmp_path)
    assert load_yaml(config)["rule_files"] == [
        f"{RULES_DIR}/*.yml", f"{tmp_path}/state/prometheus/rules/*.yml"]
    proc = run(promtool, "check", "config", str(config))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS: 1 rule files found" in proc.stdout


def test_compose_prometheus_config_is_valid(tmp_path: Path) -> None:
    promtool = tool("promtool", "prometheus")
    doc = load_yaml(DEPLOY / "docker" / "prometheus.yml")
    assert doc["rule_files"] == ["/etc/prometheus/rules/*.yml"]
    doc["rule_files"] = [f"{RULES_DIR}/*.yml"]  # where compose mounts them from
    config = tmp_path / "prometheus.yml"
    config.write_text(yaml.safe_dump(doc))
    proc = run(promtool, "check", "config", str(config))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    jobs = {j["job_name"] for j in doc["scrape_configs"]}
    assert "wirewatch" in jobs  # the job the rules select


# ============================================================================ Alertmanager


def render_compose_alertmanager(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run the compose entrypoint script with a stand-in binary; the config lands in tmp_path."""
    return run("sh", str(AM_ENTRYPOINT), env={
        "PATH": "/usr/bin:/bin", "AM_TEMPLATE": str(COMPOSE_AM),
        "AM_CONFIG": str(tmp_path / "alertmanager.yml"), "AM_BINARY": "true", **env})


@pytest.fixture(params=["local", "compose"])
def am_config(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    if request.param == "local":
        return render_local(LOCAL_AM, tmp_path)
    proc = render_compose_alertmanager(tmp_path, **SAMPLE_URLS)
    assert proc.returncode == 0, proc.stderr
    return tmp_path / "alertmanager.yml"


def test_alertmanager_configs_pass_amtool(am_config: Path) -> None:
    amtool = tool("amtool", "prometheus-alertmanager")
    proc = run(amtool, "check-config", str(am_config))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "3 receivers" in proc.stdout


def expected_receiver(labels: dict[str, str]) -> str:
    if labels.get("team") == "newsdesk":
        return "newsdesk"
    return "operators-critical" if labels.get("severity") == "critical" else "operators"


def routed_to(amtool: str, config: Path, labels: dict[str, str]) -> str:
    proc = run(amtool, "config", "routes", "test", f"--config.file={config}",
               *(f"{k}={v}" for k, v in labels.items()))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout.strip()


@pytest.mark.parametrize(("labels", "receiver"), [
    ({"alertname": "WirewatchViolenceBurst", "severity": "info", "team": "newsdesk",
      "country": "KZ"}, "newsdesk"),
    ({"alertname": "WirewatchPipelineStalled", "severity": "critical", "team": "operators",
      "stage": "index"}, "operators-critical"),
    ({"alertname": "WirewatchDeadLetterSpike", "severity": "warning", "team": "operators",
      "reason": "not_json"}, "operators"),
    ({"alertname": "SomethingElse"}, "operators"),  # nothing is dropped
])
def test_alertmanager_routes_by_team_and_severity(am_config: Path, labels: dict[str, str],
                                                   receiver: str) -> None:
    amtool = tool("amtool", "prometheus-alertmanager")
    assert routed_to(amtool, am_config, labels) == receiver


def test_every_production_alert_reaches_its_receiver(am_config: Path) -> None:
    amtool = tool("amtool", "prometheus-alertmanager")
    for rule in alert_rules():
        labels = {"alertname": rule["alert"], **rule["labels"]}
        assert routed_to(amtool, am_config, labels) == expected_receiver(labels), rule["alert"]


def test_inhibition_names_real_alerts() -> None:
    names = {r["alert"] for r in alert_rules()}
    for rule in load_yaml(LOCAL_AM)["inhibit_rules"]:
        for matcher in rule["source_matchers"] + rule["target_matchers"]:
            pattern = matcher.split("=", 1)[1].lstrip("~").strip('"')
            assert any(re.fullmatch(pattern, n) for n in names), matcher


def without_timings(route: dict[str, Any]) -> dict[str, Any]:
    timing = {"group_wait", "group_interval", "repeat_interval"}
    kept = {k: v for k, v in route.items() if k not in timing and k != "routes"}
    kept["routes"] = [without_timings(r) for r in route.get("routes", [])]
    return kept


def test_local_and_compose_alertmanager_route_the_same_way() -> None:
    local, compose = load_yaml(LOCAL_AM), load_yaml(COMPOSE_AM)
    assert without_timings(local["route"]) == without_timings(compose["route"])
    assert local["inhibit_rules"] == compose["inhibit_rules"]
    assert [r["name"] for r in local["receivers"]] == [r["name"] for r in compose["receivers"]]
    # Production batches related alerts; the local stack answers fast for the tests.
    assert compose["route"]["group_wait"] == "30s" and local["route"]["group_wait"] == "1s"


def test_local_alertmanager_posts_to_the_webhook_port_placeholder() -> None:
    urls = [w["url"] for r in load_yaml(LOCAL_AM)["receivers"] for w in r["webhook_configs"]]
    assert urls and set(urls) == {"http://127.0.0.1:${ALERT_WEBHOOK_PORT}/alertmanager"}


def test_compose_alertmanager_fills_receiver_urls_from_the_environment(tmp_path: Path) -> None:
    proc = render_compose_alertmanager(tmp_path, **SAMPLE_URLS)
    assert proc.returncode == 0, proc.stderr
    rendered = load_yaml(tmp_path / "alertmanager.yml")
    urls = {r["name"]: r["webhook_configs"][0]["url"] for r in rendered["receivers"]}
    assert urls == {"operators": SAMPLE_URLS["ALERT_WEBHOOK_URL_OPERATORS"],
                    "operators-critical": SAMPLE_URLS["ALERT_WEBHOOK_URL_CRITICAL"],
                    "newsdesk": SAMPLE_URLS["ALERT_WEBHOOK_URL_NEWSDESK"]}


@pytest.mark.parametrize(("override", "message"), [
    ({"ALERT_WEBHOOK_URL_NEWSDESK": ""}, "set ALERT_WEBHOOK_URL_NEWSDESK"),
    ({"ALERT_WEBHOOK_URL_CRITICAL": 'https://x.example.org/"quoted"'}, "percent-encode"),
])
def test_compose_alertmanager_refuses_unusable_urls(tmp_path: Path, override: dict[str, str],
                                                    message: str) -> None:
    proc = render_compose_alertmanager(tmp_path, **{**SAMPLE_URLS, **override})
    assert proc.returncode == 1
    assert message in proc.stderr
    assert not (tmp_path / "alertmanager.yml").exists()


# ============================================================================ docker compose


def compose() -> dict[str, Any]:
    doc = load_yaml(COMPOSE)
    assert isinstance(doc, dict)
    return doc


def env_example() -> dict[str, str]:
    pairs = {}
    for line in (DEPLOY / "docker" / "env.example").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition("=")
            pairs[key] = value
    return pairs


_VAR = re.compile(r"\$\{(\w+)(?:(:?[-?])([^}]*))?\}")


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default} and ${VAR:?error}, with $$ for a literal $."""

    def one(m: re.Match[str]) -> str:
        name, op, arg = m.group(1), m.group(2), m.group(3)
        if env.get(name):
            return env[name]
        if op and op.endswith("?"):
            raise AssertionError(f"compose needs {name}: {arg}")
        return arg or ""

    return _VAR.sub(one, value.replace("$$", "\0")).replace("\0", "$")


def sample_env() -> dict[str, str]:
    """deploy/.env as an operator fills it in."""
    return {k: v or f"sample-{k.lower()}" for k, v in env_example().items()}


def service_env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): interpolate(str(v), sample_env()) for k, v in env.items()}


def host_mounts(service: dict[str, Any]) -> list[tuple[Path, str]]:
    """(host path, container path) of the service's bind mounts."""
    mounts = []
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith((".", "/")):
            mounts.append(((DEPLOY / source).resolve(), target))
    return mounts


def container_ports(service: dict[str, Any]) -> set[int]:
    ports = {int(p) for p in service.get("expose", [])}
    for mapping in service.get("ports", []):
        ports.add(int(str(mapping).rsplit(":", 1)[-1].split("/")[0]))
    return ports


def test_compose_has_every_service_of_the_deployment() -> None:
    services = compose()["services"]
    assert set(services) >= {"kafka", "elasticsearch", "kibana", "prometheus", "alertmanager",
                             "grafana", "wirewatch"}
    for name, service in services.items():
        image = service["image"]
        if "build" not in service:
            assert ":" in image and not image.endswith(":latest"), f"{name}: pin {image}"
        for dependency in service.get("depends_on", []):
            assert dependency in services, f"{name} depends on unknown {dependency}"
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert "KAFKA_PROCESS_ROLES" in services["kafka"]["environment"]  # KRaft, no ZooKeeper
    es = services["elasticsearch"]
    assert es["image"].split(":")[-1].startswith("9.")
    assert es["environment"]["discovery.type"] == "single-node"
    assert es["environment"]["xpack.security.enabled"] == "true"


@pytest.mark.parametrize("required", [
    "grafana/provisioning", "grafana/dashboards", "deploy/kibana",
    "deploy/prometheus/rules", "deploy/docker/prometheus.yml", "deploy/docker/alertmanager.yml",
])
def test_compose_mounts_the_project_folders_and_they_exist(required: str) -> None:
    mounted = {path for s in compose()["services"].values() for path, _ in host_mounts(s)}
    assert REPO / required in mounted, f"docker-compose.yml does not mount {required}"
    assert (REPO / required).exists(), f"{required} is mounted by docker-compose.yml but missing"


def test_kibana_import_finds_saved_objects_in_the_mounted_folder() -> None:
    setup = compose()["services"]["kibana-setup"]
    folder = next(path for path, target in host_mounts(setup) if target == "/kibana")
    exports = sorted(folder.glob("*.ndjson"))  # what docker/kibana-import.sh imports
    assert exports, f"no Kibana saved objects (*.ndjson) in {folder}"
    for export in exports:
        for line in export.read_text().splitlines():
            obj = json.loads(line)
            if "exportedCount" not in obj:  # Kibana's closing summary line
                assert {"id", "type", "attributes"} <= set(obj), f"{export}: {line[:80]}"


def test_every_compose_host_path_and_build_context_exists() -> None:
    for name, service in compose()["services"].items():
        for path, _ in host_mounts(service):
            assert path.exists(), f"{name} mounts {path}, which does not exist"
        if "build" in service:
            context = (DEPLOY / service["build"]["context"]).resolve()
            assert context == REPO
            assert (context / service["build"]["dockerfile"]).resolve() == DOCKERFILE


def test_compose_variables_are_documented_in_env_example() -> None:
    documented = set(env_example())
    text = "\n".join(ln for ln in COMPOSE.read_text().splitlines()
                     if not ln.lstrip().startswith("#"))
    used = {m.group(1) for m in _VAR.finditer(text.replace("$$", ""))}
    assert used
    assert used <= documented, f"add to deploy/docker/env.example: {used - documented}"


def desk_secret_names(rules_file: Path) -> set[str]:
    doc = load_yaml(rules_file)
    hooks = [h for d in doc.get("desks", {}).values() for h in d.get("webhooks", [])]
    hooks += [h for r in doc.get("rules", []) for h in r.get("webhooks", [])]
    return {h["secret_env"] for h in hooks if "secret_env" in h}


def worker_rules_file(service: dict[str, Any]) -> Path:
    target = service_env(service)["WIREWATCH_RULES_FILE"]
    return next(path for path, mounted in host_mounts(service) if mounted == target)


def test_compose_wirewatch_variables_are_real_settings() -> None:
    for name, service in compose()["services"].items():
        allowed = set(SETTINGS_ENV)
        if name == "wirewatch":
            allowed |= desk_secret_names(worker_rules_file(service))
        unknown = {k for k in service_env(service) if k.startswith(PREFIX)} - allowed
        assert not unknown, f"{name} sets variables no code reads: {unknown}"


def test_compose_worker_environment_starts_the_worker_settings_and_rules() -> None:
    service = compose()["services"]["wirewatch"]
    env = service_env(service)
    settings = Settings.from_env(env)
    assert settings.bind_host == "0.0.0.0"
    assert str(settings.stanza_dir) == "/opt/stanza"
    # The mounted desk rules load with this environment (every secret_env is provided).
    assert load_rules(worker_rules_file(service), environ=env).rules


def test_compose_addresses_and_ports_agree() -> None:
    services = compose()["services"]
    worker = services["wirewatch"]
    settings = Settings.from_env(service_env(worker))
    assert {settings.metrics_port, settings.web_port} <= container_ports(worker)
    for address in settings.kafka_bootstrap.split(","):
        host, port = address.rsplit(":", 1)
        assert int(port) in container_ports(services[host]), address
    es = urlsplit(settings.es_url)
    assert es.port in container_ports(services[str(es.hostname)])
    # Prometheus scrapes the worker where it listens, and alerts where Alertmanager listens.
    prom = load_yaml(DEPLOY / "docker" / "prometheus.yml")
    targets = {t for job in prom["scrape_configs"] for sc in job.get("static_configs", [])
               for t in sc["targets"]}
    assert f"wirewatch:{settings.metrics_port}" in targets
    for target in prom["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]:
        host, port = target.split(":")
        assert int(port) in container_ports(services[host])
    for target in targets - {"localhost:9090"}:
        host, port = target.split(":")
        assert int(port) in container_ports(services[host]), target
    # Published ports are for this host only.
    for name, service in services.items():
        for mapping in service.get("ports", []):
            assert str(mapping).startswith("127.0.0.1:"), f"{name} publishes {mapping} to all"


def test_compose_grafana_overrides_match_the_project_provisioning() -> None:
    grafana = compose()["services"]["grafana"]
    mounts = {target: path for path, target in host_mounts(grafana)}
    provisioning = REPO / "grafana" / "provisioning"
    for target, path in mounts.items():
        if target.startswith("/etc/grafana/provisioning/") and path.is_file():
            # A file mounted over one of the project's own provisioning files: same objects.
            original = provisioning / target.removeprefix("/etc/grafana/provisioning/")
            assert original.is_file(), f"{target} overrides no file of grafana/provisioning"
            ours, theirs = load_yaml(path), load_yaml(original)
            for key in ("datasources", "contactPoints"):
                for a, b in zip(ours.get(key, []), theirs.get(key, []), strict=True):
                    assert (a["name"], a.get("uid"), a.get("type")) == \
                        (b["name"], b.get("uid"), b.get("type"))
            assert ours.get("policies") == theirs.get("policies")
    # The dashboards provider reads the folder compose mounts the dashboards into.
    dashboards_target = next(t for t, p in mounts.items() if p == REPO / "grafana" / "dashboards")
    paths = [p["options"]["path"] for f in (provisioning / "dashboards").glob("*.y*ml")
             for p in load_yaml(f)["providers"]]
    assert paths and all(p == dashboards_target for p in paths)
    ds = load_yaml(mounts["/etc/grafana/provisioning/datasources/wirewatch.yaml"])
    services = compose()["services"]
    for source in ds["datasources"]:
        url = urlsplit(source["url"])
        assert url.port in container_ports(services[str(url.hostname)]), source["url"]


def test_compose_scripts_are_valid_shell() -> None:
    scripts = sorted((DEPLOY / "docker").glob("*.sh"))
    assert len(scripts) >= 4
    for script in scripts:
        proc = run("sh", "-n", str(script))
        assert proc.returncode == 0, f"{script}: {proc.stderr}"


# ============================================================================ Dockerfile


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    lines = [ln.strip() for ln in text.splitlines()
             if ln.strip() and not ln.strip().startswith("#")]
    return [(ln.split(None, 1)[0].upper(), ln.split(None, 1)[1]) for ln in lines]


def dockerfile_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for op, args in dockerfile_instructions():
        if op == "ENV":
            env.update(re.findall(r"(\w+)=(\S+)", args))
    return env


def test_dockerfile_copies_files_that_exist_and_the_context_admits() -> None:
    sources = []
    for op, args in dockerfile_instructions():
        if op == "COPY" and "--from=" not in args:
            sources += args.split()[:-1]
    assert sources
    admitted = [ln[1:].rstrip("/") for ln in
                (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
                if ln.startswith("!")]
    for source in sources:
        assert (REPO / source).exists(), f"deploy/Dockerfile copies missing {source}"
        assert source.rstrip("/") in admitted, f"Dockerfile.dockerignore keeps out {source}"


def test_dockerfile_bakes_stanza_models_at_build_time() -> None:
    instructions = dockerfile_instructions()
    args = dict(a.split("=", 1) for op, a in instructions if op == "ARG")
    args = {k: v.strip('"') for k, v in args.items()}
    assert args["STANZA_LANGS"] == "en ru uk"
    runs = " ".join(a for op, a in instructions if op == "RUN")
    assert "stanza.download(lang, model_dir='/opt/stanza', processors='tokenize,ner'" in runs
    assert "os.environ['STANZA_LANGS'].split()" in runs
    assert 'pip install -e ".[stanza]"' in runs
    assert dockerfile_env()["WIREWATCH_STANZA_DIR"] == "/opt/stanza"
    # The calls of the build step exist with these arguments in the libraries installed here.
    import stanza

    from streams.tagging.stanza_ner import StanzaPlaceProposer

    inspect.signature(stanza.download).bind("en", model_dir="/opt/stanza",
                                            processors="tokenize,ner", verbose=False)
    inspect.signature(StanzaPlaceProposer.from_dir).bind(Path("/opt/stanza"), ["en"])


def test_dockerfile_environment_is_real_settings_and_ports_are_exposed() -> None:
    env = dockerfile_env()
    wirewatch = {k for k in env if k.startswith(PREFIX)}
    assert wirewatch and wirewatch <= SETTINGS_ENV, wirewatch - SETTINGS_ENV
    settings = Settings.from_env(env)
    exposed = {int(p) for op, a in dockerfile_instructions() if op == "EXPOSE" for p in a.split()}
    assert exposed == {settings.metrics_port, settings.web_port}
    assert settings.bind_host == "0.0.0.0"
    assert dict(dockerfile_instructions()).get("USER") == "wirewatch"


# ============================================================================ Kubernetes

K8S_KINDS = {
    "Namespace": "v1", "ServiceAccount": "v1", "ConfigMap": "v1", "Secret": "v1",
    "Service": "v1", "Deployment": "apps/v1", "PodDisruptionBudget": "policy/v1",
    "HorizontalPodAutoscaler": "autoscaling/v2",
}


def k8s_objects() -> dict[str, dict[str, Any]]:
    """kind -> object of every manifest under deploy/k8s (one object per kind here)."""
    objects: dict[str, dict[str, Any]] = {}
    for path in sorted(K8S.rglob("*.yaml")):
        if path.name in ("kustomization.yaml", "desk-rules.yaml"):
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            assert doc["kind"] not in objects, f"second {doc['kind']} in {path}"
            objects[doc["kind"]] = doc
    return objects


def k8s_settings_env() -> dict[str, str]:
    objects = k8s_objects()
    env = dict(objects["ConfigMap"]["data"])
    env.update({k: f"sample-{k.lower()}" for k in objects["Secret"]["stringData"]})
    return env


def test_k8s_manifests_have_known_kinds_and_validate_against_the_api_schema() -> None:
    import kubernetes_validate

    objects = k8s_objects()
    assert set(objects) == set(K8S_KINDS)
    for kind, obj in objects.items():
        assert obj["apiVersion"] == K8S_KINDS[kind], kind
        assert obj["metadata"]["namespace" if kind != "Namespace" else "name"] == "wirewatch"
        kubernetes_validate.validate(obj, "1.30", strict=True)


def test_k8s_schema_validation_can_fail() -> None:
    import kubernetes_validate

    deployment = k8s_objects()["Deployment"]
    broken = yaml.safe_load(yaml.safe_dump(deployment))
    broken["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, "1.30", strict=True)


def test_kustomization_lists_every_manifest_but_the_optional_ones() -> None:
    kustomization = load_yaml(K8S / "kustomization.yaml")
    listed = set(kustomization["resources"])
    present = {p.name for p in K8S.glob("*.yaml")}
    for name in listed:
        assert (K8S / name).exists(), name
    assert present - listed == {"kustomization.yaml", "secret.example.yaml", "desk-rules.yaml"}
    generated = kustomization["configMapGenerator"][0]
    assert generated["name"] == "wirewatch-desk-rules"
    assert generated["files"] == ["rules.yaml=desk-rules.yaml"]


def test_k8s_replicas_never_exceed_the_topic_partitions() -> None:
    objects = k8s_objects()
    partitions = Settings.from_env(objects["ConfigMap"]["data"]).topic_partitions
    assert 1 <= objects["Deployment"]["spec"]["replicas"] <= partitions
    hpa = objects["HorizontalPodAutoscaler"]["spec"]
    assert hpa["maxReplicas"] == partitions
    assert hpa["scaleTargetRef"]["name"] == objects["Deployment"]["metadata"]["name"]
    assert hpa["metrics"][0]["external"]["metric"]["name"] == "wirewatch_consumer_lag_messages"


def test_k8s_wirewatch_variables_are_settings_and_secrets_stay_in_the_secret() -> None:
    objects = k8s_objects()
    desk_secrets = desk_secret_names(K8S / "desk-rules.yaml")
    config = set(objects["ConfigMap"]["data"])
    secret = set(objects["Secret"]["stringData"])
    container = objects["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    direct = {e["name"] for e in container.get("env", [])}
    assert config | direct <= SETTINGS_ENV, (config | direct) - SETTINGS_ENV
    assert secret <= SETTINGS_ENV | desk_secrets, secret - SETTINGS_ENV - desk_secrets
    assert not config & (SECRET_FIELDS | desk_secrets), "secrets in the ConfigMap"
    assert desk_secrets <= secret, "every secret_env of the desk rules comes from the Secret"
    assert secret & SECRET_FIELDS
    refs = {next(iter(ref.values()))["name"] for ref in container["envFrom"]}
    assert refs == {objects["ConfigMap"]["metadata"]["name"], objects["Secret"]["metadata"]["name"]}


def test_k8s_worker_settings_rules_and_ports_fit_together() -> None:
    objects = k8s_objects()
    env = k8s_settings_env()
    settings = Settings.from_env(env)
    assert settings.bind_host == "0.0.0.0"
    assert str(settings.stanza_dir) == dockerfile_env()["WIREWATCH_STANZA_DIR"]
    # The desk rules file sits in the mounted ConfigMap and loads with the Secret's names set.
    pod = objects["Deployment"]["spec"]["template"]["spec"]
    mounts = {m["name"]: m["mountPath"] for m in pod["containers"][0]["volumeMounts"]}
    rules_volume = next(v for v in pod["volumes"]
                        if v.get("configMap", {}).get("name") == "wirewatch-desk-rules")
    assert settings.rules_file == Path(mounts[rules_volume["name"]]) / "rules.yaml"
    assert load_rules(K8S / "desk-rules.yaml", environ=env).rules
    assert str(settings.state_dir) in mounts.values()  # writable under a read-only root
    # The metrics port: container, Service and scrape annotations agree.
    ports = {p["name"]: p["containerPort"] for p in pod["containers"][0]["ports"]}
    assert ports["metrics"] == settings.metrics_port and ports["web"] == settings.web_port
    service = objects["Service"]
    assert service["metadata"]["annotations"]["prometheus.io/port"] == str(settings.metrics_port)
    assert service["metadata"]["annotations"]["prometheus.io/scrape"] == "true"
    assert service["spec"]["ports"][0]["targetPort"] == "metrics"


def test_k8s_selectors_pick_the_worker_pods() -> None:
    objects = k8s_objects()
    deployment = objects["Deployment"]["spec"]
    pod_labels = deployment["template"]["metadata"]["labels"].items()
    assert deployment["selector"]["matchLabels"].items() <= pod_labels
    assert objects["Service"]["spec"]["selector"].items() <= pod_labels
    assert objects["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"].items() <= pod_labels
    assert objects["PodDisruptionBudget"]["spec"]["maxUnavailable"] < deployment["replicas"]
