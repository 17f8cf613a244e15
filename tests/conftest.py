import csv
import os
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError
from transformers import BertConfig, BertModel

from minsheng.model.encoder import load_tokenizer
from minsheng.model.registry import default_base_model
from minsheng.store import make_engine, migrate, session_factory

PG_URL = os.environ.get("MINSHENG_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def pg_admin():
    """An engine on the test PostgreSQL, or a skip (a failure where CI sets MINSHENG_REQUIRE_POSTGRES=1)."""
    engine = create_engine(PG_URL, pool_pre_ping=True, connect_args={"connect_timeout": 3})
    try:
        with engine.connect():
            pass
    except OperationalError as e:
        engine.dispose()
        if os.environ.get("MINSHENG_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL required (MINSHENG_REQUIRE_POSTGRES=1) but not reachable at {PG_URL}: {e}")
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}")
    yield engine
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """An empty database: a SQLite file, or a fresh PostgreSQL schema made the connections' search_path."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'minsheng.db'}"
        return
    admin = request.getfixturevalue("pg_admin")
    schema = f"test_{uuid.uuid4().hex[:12]}"
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    # only this schema on the path: tables and alembic_version land in it, and nothing outside is visible
    yield f"{PG_URL}{'&' if '?' in PG_URL else '?'}options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


@pytest.fixture
def engine(db_url):
    # disposed before db_url's teardown, so no pooled connection holds locks when the schema is dropped
    engine = make_engine(db_url)
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def sessions(engine):
    return session_factory(engine)


@pytest.fixture(scope="session")
def bentoml_home(tmp_path_factory):
    """A model store of the test session's own, holding the shipped default model (imported on first serve)."""
    home = tmp_path_factory.mktemp("bentoml")
    os.environ["BENTOML_HOME"] = str(home)
    return home


def _serve(tmp_path_factory, bentoml_home, db_url: str | None, extra_env: dict[str, str] | None = None):
    from tests.serving import ServerProcess

    env = {"BENTOML_HOME": str(bentoml_home), **(extra_env or {})}
    if db_url:
        env["MINSHENG_DB_URL"] = db_url
    return ServerProcess(tmp_path_factory.mktemp("server"), env).start()


@contextmanager
def served(tmp_path_factory, bentoml_home, pg_admin=None, env: dict[str, str] | None = None):
    """A real service of its own (with `env` added to its environment): on SQLite, or (pg_admin given) on a fresh
    PostgreSQL schema, dropped after."""
    if pg_admin is None:
        proc = _serve(tmp_path_factory, bentoml_home, None, env)
        yield proc
        proc.stop()
        return
    schema = f"test_srv_{uuid.uuid4().hex[:10]}"
    with pg_admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    proc = _serve(tmp_path_factory, bentoml_home, f"{PG_URL}{'&' if '?' in PG_URL else '?'}options=-csearch_path%3D{schema}",
                  env)
    yield proc
    proc.stop()
    with pg_admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


@pytest.fixture(scope="session")
def server(tmp_path_factory, bentoml_home):
    """The real service on SQLite (its default), with the shipped model."""
    with served(tmp_path_factory, bentoml_home) as proc:
        yield proc


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory, bentoml_home, pg_admin):
    """The real service on a fresh PostgreSQL schema."""
    with served(tmp_path_factory, bentoml_home, pg_admin) as proc:
        yield proc


@pytest.fixture(params=["sqlite", "postgresql"])
def srv(request):
    """The real service on SQLite, then on PostgreSQL."""
    return request.getfixturevalue("server" if request.param == "sqlite" else "pg_server")


DATA = Path(__file__).resolve().parent.parent / "data"
FILES = ["domain/train.csv", "domain/dev.csv", "citizen/train.csv", "citizen/dev.csv", "sentiment_reviews/reviews.csv"]


def _head(src: Path, dst: Path, n: int) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    with src.open(encoding="utf-8") as f, dst.open("w", encoding="utf-8", newline="") as g:
        reader = csv.DictReader(f)
        writer = csv.DictWriter(g, fieldnames=reader.fieldnames)
        writer.writeheader()
        for i, row in enumerate(reader):
            if i >= n:
                break
            writer.writerow(row)


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    """A tiny random BERT (2 layers, hidden 32) with the real tokenizer, and 60 rows of each data file."""
    root = tmp_path_factory.mktemp("tiny")
    for name in FILES:
        _head(DATA / name, root / "data" / name, 60)
    base = root / "tiny-bert"
    config = BertConfig(vocab_size=21128, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128)
    BertModel(config).save_pretrained(base)
    load_tokenizer(default_base_model()).save_pretrained(base)
    return root, base


CHROMIUM = "/usr/bin/chromium"


@pytest.fixture
def browser():
    """Headless Chromium, or a skip (a failure where CI sets MINSHENG_REQUIRE_BROWSER=1)."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        missing = f"{CHROMIUM} missing: apt-get install chromium"
        if os.environ.get("MINSHENG_REQUIRE_BROWSER") == "1":
            pytest.fail(missing)
        pytest.skip(missing)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            # no sandbox: tests run as root in a container; the rest keeps Chromium off the (absent) network
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run"])
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def api(server):
    """The review API of the SQLite `server` with one signed-in user per role (tests/test_review_api.py's Api)."""
    from tests.test_review_api import Api

    api = Api(server)
    yield api
    api.client.close()
    api.engine.dispose()


@pytest.fixture
def signed_in(browser):
    """opens(url, token, height) -> (page at /ui/ signed in with `token`, list collecting the page's JS errors)."""
    def opens(url: str, token: str, height: int = 768):
        page = browser.new_page(viewport={"width": 1366, "height": height}, locale="zh-CN")
        page.set_default_timeout(60_000)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{url}/ui/")
        page.fill("#token", token)
        page.click("button[type=submit]")
        return page, errors

    return opens
