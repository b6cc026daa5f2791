"""Connection settings shared by every service, read once from `RELSTREAM_*` variables.

Each long-running service builds one settings object at its entry point (its own class,
subclassing `CommonSettings`) and passes it down; nothing deeper reads the environment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REGISTRY_ENV = "RELSTREAM_REGISTRY_DIR"
"""The one variable that moves the model registry, for every service."""
_SECRET_PARAMS = {"password", "passwd", "pwd", "secret", "token", "access_token", "api_key"}


def url_secrets(url: str) -> list[str]:
    """The secrets written in a service URL: its password and secret-looking query values."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:  # not a URL at all (e.g. a bad port): nothing to find
        return []
    found = [p for p in (password, unquote(password or "")) if p]
    found += [v for k, v in parse_qsl(parts.query) if k.lower() in _SECRET_PARAMS and v]
    return list(dict.fromkeys(found))


def redact_url(url: str) -> str:
    """`url` fit for logs and errors: password and secret query values shown as `***`.

    DSNs such as `http://user:pass@host:8123/db` reach error messages and status output;
    the user name and host stay, so the message still says where.
    """
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return url
    if not url_secrets(url):
        return url  # unchanged, exactly (urlunsplit would drop an empty `//` authority)
    netloc = parts.netloc
    if password is not None:
        userinfo, _, hostport = netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:***@{hostport}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, "***" if k.lower() in _SECRET_PARAMS else v) for k, v in pairs],
                          safe="*")
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def scrub(text: str, url: str) -> str:
    """`text` with every secret of `url` replaced by `***` (for third-party messages)."""
    for secret in url_secrets(url):
        text = text.replace(secret, "***")
    return text


def default_cache_dir() -> Path:
    """Downloads (Maven jars, converted models) live outside any clone so CI reuses them."""
    return Path.home() / ".cache" / "relstream"


CHDB_ROLES = {"TeacherSettings": "teacher", "TrainerSettings": "trainer",
              "ProcessorSettings": "streams"}
"""Settings class (or a base of it) → the role whose own embedded ClickHouse it opens.

Embedded ClickHouse (chdb) locks its data path (`<path>/status`) for one process, so
`relstream streams run`, `teacher run`, `train online` and `serve` sharing one state dir
used to collide ("Cannot lock file .../clickhouse/status"; the loser ran with metrics
off). Each of these roles now has its own path, `<state_dir>/<role>/clickhouse`, beside
the other per-role state (`<state_dir>/teacher/label-cache.sqlite`). Serving, and every
settings class not listed (plain `CommonSettings` of reports and tools), keeps
`<state_dir>/clickhouse`: the A/B reports (`relstream serve ab-report`, the demo's report)
read what the server wrote there, so they find it without any new setting. Only the state
dir moves per role, not the rest of it: the registry and the Feast repo stay shared. The
roles are named by class, so this bottom module imports none of the services; a unit test
builds each service's settings and checks the paths differ. A set `clickhouse_url` (a
ClickHouse server, which every process can write to at once) replaces all of this; two
processes of the same role on one state dir (two teacher workers) still need their own
`RELSTREAM_STATE_DIR` or a server.
"""


class CommonSettings(BaseSettings):
    """Where the shared services are. Every field can be set as `RELSTREAM_<FIELD>`."""

    model_config = SettingsConfigDict(env_prefix="RELSTREAM_", extra="ignore")

    kafka_bootstrap: str = Field(
        "127.0.0.1:9092", description="Kafka bootstrap servers, comma separated."
    )
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", description="How every Kafka client connects; SASL_SSL for a broker "
        "reached over a network (docs/serving.md, Security).",
    )
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = Field(
        "PLAIN", description="SASL mechanism with SASL_PLAINTEXT / SASL_SSL."
    )
    kafka_sasl_username: str = Field("", description="SASL user name.")
    kafka_sasl_password: SecretStr = Field(
        SecretStr(""), description="SASL password (never logged; from a secrets file or env)."
    )
    kafka_ssl_cafile: Path | None = Field(
        None, description="CA bundle that signed the broker's certificate (SSL / SASL_SSL); "
        "unset = the system's CAs.",
    )
    topic_prefix: str = Field(
        "", description="Prefix for every topic name, so several deployments share a broker."
    )
    clickhouse_url: str = Field(
        "",
        description="ClickHouse DSN. Empty means embedded chdb, one path per role: "
        "<state_dir>/clickhouse for serving and reports, <state_dir>/<role>/clickhouse for "
        "the teacher, trainer and stream processor (CHDB_ROLES); a server looks like "
        "http://user:pass@host:8123/db.",
    )
    redis_url: str = Field(
        "", description="Redis URL for the Feast online store; empty means SQLite."
    )
    state_dir: Path = Field(
        default_factory=lambda: default_cache_dir() / "state",
        description="Runtime state of the local stack: broker data, pid files, chdb, registry.",
    )
    cache_dir: Path = Field(
        default_factory=default_cache_dir,
        description="Downloads kept across runs: Maven artifacts, converted models.",
    )
    registry: Path | None = Field(
        None, validation_alias=REGISTRY_ENV,
        description="Model registry root (a local dir or a mounted volume) that the trainers "
        "publish to and serving loads from; unset or empty means <state_dir>/registry. Set "
        f"as {REGISTRY_ENV}, or `registry=` in code; read it with `registry_dir()`.",
    )

    @model_validator(mode="before")
    @classmethod
    def _registry_by_name(cls, data: Any) -> Any:
        # The field is `registry` (`registry_dir` is the accessor) but its variable is
        # RELSTREAM_REGISTRY_DIR, an alias; pydantic-settings would read a second variable,
        # RELSTREAM_REGISTRY, if the field took its name too (`populate_by_name`). So
        # `registry=` from code, model_dump() included, is moved onto the alias here, and
        # beats the environment as every keyword argument does.
        if not isinstance(data, dict):
            return data
        renamed = sorted(set(data) & {"registry_root", "registry_dir"})
        if renamed:  # the two old names; extra="ignore" would drop them without a word
            # TypeError, as for any unknown keyword: a ValueError would become a
            # ValidationError that prints the whole input, secrets included.
            raise TypeError(f"{renamed[0]}= is now registry= (one setting, {REGISTRY_ENV})")
        data = dict(data)
        if "registry" in data:
            data[REGISTRY_ENV] = data.pop("registry")
        if data.get(REGISTRY_ENV) == "":
            data[REGISTRY_ENV] = None  # RELSTREAM_REGISTRY_DIR= means the default
        return data

    def registry_dir(self) -> Path:
        """The model registry root: `registry`, else `<state_dir>/registry`."""
        return self.registry or self.state_dir / "registry"

    def kafka_client_config(self) -> dict[str, Any]:
        """kafka-python keyword arguments for the broker: bootstrap servers and security.

        Every kafka-python client (producer, consumer, admin) starts from this, so one set
        of `RELSTREAM_KAFKA_*` variables moves the whole system onto SASL and/or TLS.
        """
        config: dict[str, Any] = {"bootstrap_servers": self.kafka_bootstrap,
                                  "security_protocol": self.kafka_security_protocol}
        if self.kafka_security_protocol.startswith("SASL"):
            config.update(sasl_mechanism=self.kafka_sasl_mechanism,
                          sasl_plain_username=self.kafka_sasl_username,
                          sasl_plain_password=self.kafka_sasl_password.get_secret_value())
        if self.kafka_security_protocol.endswith("SSL") and self.kafka_ssl_cafile:
            config["ssl_cafile"] = str(self.kafka_ssl_cafile)
        return config

    def aiokafka_config(self) -> dict[str, Any]:
        """`kafka_client_config` spelled for aiokafka (same servers and security)."""
        config = self.kafka_client_config()
        out: dict[str, Any] = {"bootstrap_servers": config["bootstrap_servers"],
                               "security_protocol": config["security_protocol"]}
        if "sasl_mechanism" in config:
            out.update(sasl_mechanism=config["sasl_mechanism"],
                       sasl_plain_username=config["sasl_plain_username"],
                       sasl_plain_password=config["sasl_plain_password"])
        if config["security_protocol"].endswith("SSL"):
            import ssl

            out["ssl_context"] = ssl.create_default_context(cafile=config.get("ssl_cafile"))
        return out

    def faust_credentials(self) -> Any:
        """The same security for Faust's aiokafka driver (`broker_credentials`), or None."""
        protocol = self.kafka_security_protocol
        if protocol == "PLAINTEXT":
            return None
        import ssl

        import faust

        context = None
        if protocol.endswith("SSL"):
            cafile = str(self.kafka_ssl_cafile) if self.kafka_ssl_cafile else None
            context = ssl.create_default_context(cafile=cafile)
        if protocol == "SSL":
            return faust.SSLCredentials(context)
        return faust.SASLCredentials(
            username=self.kafka_sasl_username,
            password=self.kafka_sasl_password.get_secret_value(),
            mechanism=self.kafka_sasl_mechanism, ssl_context=context,
        )

    def chdb_role(self) -> str:
        """This service's role (`CHDB_ROLES`), "" for serving, reports and other tools."""
        for cls in type(self).__mro__:
            if cls.__name__ in CHDB_ROLES:
                return CHDB_ROLES[cls.__name__]
        return ""

    def chdb_path(self) -> Path:
        """Where this service's embedded ClickHouse keeps its data (see `CHDB_ROLES`)."""
        role = self.chdb_role()
        return self.state_dir / role / "clickhouse" if role else self.state_dir / "clickhouse"

    def chdb_dsn(self) -> str:
        """The DSN clickhouse-connect should use: the configured URL or embedded chdb."""
        if self.clickhouse_url:
            return self.clickhouse_url
        return f"chdb://{self.chdb_path()}"
