import multiprocessing
import threading
from datetime import datetime, timedelta, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import func, inspect, select, text
from sqlalchemy.exc import IntegrityError

from minsheng.settings import Settings
from minsheng.store import (
    Analysis,
    AuditEvent,
    Base,
    NewTicket,
    Prediction,
    Routing,
    SubmissionConflict,
    Ticket,
    alembic_config,
    count_tickets,
    create_ticket,
    get_ticket,
    make_engine,
    migrate,
    normalize_url,
    session_factory,
)

TABLES = {"ticket", "prediction", "human_label", "audit_event"}
BEIJING = timezone(timedelta(hours=8))


def prediction(**overrides):
    p = {
        "model_version": "m-2026.1",
        "label_version": "abc123def456",
        "domain": "城乡建设",
        "domain_confidence": 0.91,
        "sentiment": "负面",
        "sentiment_confidence": 0.8,
        "appeal": "投诉",
        "appeal_confidence": 0.7,
        "urgent": False,
        "urgent_confidence": 0.12,
        "scores": {"domain": {"城乡建设": 0.91, "环境保护": 0.09}, "urgent": {"否": 0.88, "是": 0.12}},
    }
    p.update(overrides)
    return p


def new_ticket(external_id="hl-0001", **overrides):
    fields = {
        "channel": "12345",
        "text": "小区楼下夜间施工噪音扰民，已持续一周，请尽快处理。联系电话13800138000",
        "title": "夜间施工噪音",
        "external_id": external_id,
        "contact": "13800138000",
        "received_at": datetime(2026, 3, 1, 22, 30, tzinfo=BEIJING),
    }
    fields.update(overrides)
    return NewTicket(**fields)


ROUTING = Routing(queue="urban", department="住房和城乡建设局", priority="normal", needs_review=False)
ANALYSIS = Analysis(keywords=["施工", "噪音", "扰民"], places=["朝阳区望京街道"], pii=[{"type": "phone", "start": 29, "end": 40}])


def counts(sessions):
    with sessions() as s:
        return {m.__tablename__: s.scalar(select(func.count()).select_from(m)) for m in (Ticket, Prediction, AuditEvent)}


def test_normalize_url():
    assert normalize_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_url("postgresql+psycopg://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_url("sqlite:///x.db") == "sqlite:///x.db"


def test_database_url_defaults_to_sqlite_in_data_dir(tmp_path):
    from minsheng.store import database_url

    env = {"MINSHENG_DATA_DIR": str(tmp_path / "data")}
    assert database_url(Settings.from_env(env)) == f"sqlite:///{tmp_path / 'data' / 'minsheng.db'}"
    assert (tmp_path / "data").is_dir()
    env["MINSHENG_DB_URL"] = "postgresql://u@h/db"
    assert database_url(Settings.from_env(env)) == "postgresql+psycopg://u@h/db"


@pytest.mark.parametrize("variable, value", [("MINSHENG_QUANTIZE", "int4"), ("MINSHENG_THREADS", "two"),
                                             ("MINSHENG_PORT", "-1")])
def test_a_setting_that_cannot_be_used_is_named(variable, value):
    with pytest.raises(ValueError, match=variable):
        Settings.from_env({variable: value})


def test_migrate_creates_tables_and_is_idempotent(db_url):
    migrate(db_url)
    migrate(db_url)  # already at head: nothing to do, no error
    engine = make_engine(db_url)
    try:
        assert TABLES | {"alembic_version"} <= set(inspect(engine).get_table_names())
        with engine.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [
                ScriptDirectory.from_config(alembic_config()).get_current_head()]
            # the hand-kept migration matches the models
            assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
            if engine.dialect.name == "postgresql":
                # everything, alembic's table included, is in the test's own schema, none in public
                schema = conn.execute(text("SELECT current_schema()")).scalar()
                assert schema.startswith("test_")
                assert "alembic_version" not in inspect(conn).get_table_names(schema="public")
    finally:
        engine.dispose()


def test_create_ticket_writes_ticket_prediction_and_audit(sessions):
    ticket, created = create_ticket(sessions, new_ticket(), prediction(), ROUTING, ANALYSIS, actor="intake")
    assert created
    assert ticket["id"] > 0
    assert ticket["status"] == "open" and ticket["queue"] == "urban" and ticket["domain"] == "城乡建设"
    assert ticket["received_at"] == "2026-03-01T14:30:00+00:00"
    assert datetime.fromisoformat(ticket["created_at"]).tzinfo is not None
    assert counts(sessions) == {"ticket": 1, "prediction": 1, "audit_event": 1}
    with sessions() as s:
        stored = get_ticket(s, ticket["id"])
        assert stored.received_at == datetime(2026, 3, 1, 22, 30, tzinfo=BEIJING)
        assert stored.model_version == "m-2026.1" and stored.urgent is False
        pred = s.scalars(select(Prediction)).one()
        assert pred.ticket_id == ticket["id"] and pred.domain_confidence == pytest.approx(0.91)
        audit = s.scalars(select(AuditEvent)).one()
        assert (audit.ticket_id, audit.actor, audit.action) == (ticket["id"], "intake", "ticket.created")
        assert audit.detail["queue"] == "urban"
        assert "text" not in audit.detail and "contact" not in audit.detail
        assert count_tickets(s) == 1
        assert get_ticket(s, ticket["id"] + 1000) is None


def test_same_channel_and_external_id_is_idempotent(sessions):
    first, created = create_ticket(sessions, new_ticket(), prediction(), ROUTING, ANALYSIS, actor="intake")
    before = counts(sessions)
    # the same delivery again (its time in another zone is the same instant), whatever the model says now
    again = new_ticket(received_at=datetime(2026, 3, 1, 14, 30, tzinfo=timezone.utc))
    second, created_again = create_ticket(sessions, again, prediction(domain="环境保护"), ROUTING, ANALYSIS, "intake")
    assert created and not created_again
    assert second == first
    assert counts(sessions) == before
    # the same external id from another channel is another ticket
    _, other = create_ticket(sessions, new_ticket(channel="mailbox"), prediction(), ROUTING, ANALYSIS, actor="intake")
    assert other


@pytest.mark.parametrize("changed", [{"text": "另一条投诉：路灯坏了"}, {"title": None}, {"contact": "13900139000"},
                                     {"received_at": datetime(2026, 3, 2, tzinfo=BEIJING)}])
def test_same_external_id_with_other_content_is_a_conflict(sessions, changed):
    """A new message under a used id must not be answered with the old ticket: the new complaint would be lost."""
    first, _ = create_ticket(sessions, new_ticket(), prediction(), ROUTING, ANALYSIS, actor="intake")
    before = counts(sessions)
    with pytest.raises(SubmissionConflict) as caught:
        create_ticket(sessions, new_ticket(**changed), prediction(), ROUTING, ANALYSIS, actor="intake")
    assert (caught.value.ticket_id, caught.value.fields) == (first["id"], list(changed))
    assert counts(sessions) == before


def test_a_late_retry_of_an_erased_ticket_is_the_same_delivery_not_a_conflict(sessions):
    from minsheng.store.privacy import erase_citizen

    first, _ = create_ticket(sessions, new_ticket(), prediction(), ROUTING, ANALYSIS, actor="intake")
    assert erase_citizen(sessions, "admin", ticket_ids=[first["id"]]) == [first["id"]]
    again, created = create_ticket(sessions, new_ticket(), prediction(), ROUTING, ANALYSIS, actor="intake")
    assert (again["id"], created) == (first["id"], False)


def test_without_external_id_every_call_creates(sessions):
    a, created_a = create_ticket(sessions, new_ticket(None), prediction(), ROUTING, ANALYSIS, actor="intake")
    b, created_b = create_ticket(sessions, new_ticket(None), prediction(), ROUTING, ANALYSIS, actor="intake")
    assert created_a and created_b and a["id"] != b["id"]
    assert counts(sessions) == {"ticket": 2, "prediction": 2, "audit_event": 2}


def test_a_database_error_leaves_the_statements_values_out(sessions):
    # the ticket's own insert fails (no channel): its statement's values are the message and the contact
    with pytest.raises(IntegrityError) as caught:
        create_ticket(sessions, new_ticket(channel=None, text="我叫黄尊富,井盖丢了", contact="13912345678"),
                      prediction(), ROUTING, ANALYSIS, actor="intake")
    # SQLAlchemy leaves the values out; PostgreSQL's own DETAIL still echoes the row, which is why the service
    # logs an error's type only (serving/service.py)
    assert "[parameters:" not in str(caught.value) and "hide_parameters" in str(caught.value)


@pytest.mark.parametrize("external_id", ["hl-broken", None])
def test_failure_mid_transaction_leaves_nothing(sessions, external_id):
    broken = prediction()
    del broken["sentiment_confidence"]  # the ticket row is flushed first, then the prediction insert fails
    with pytest.raises(IntegrityError):
        create_ticket(sessions, new_ticket(external_id), broken, ROUTING, ANALYSIS, actor="intake")
    assert counts(sessions) == {"ticket": 0, "prediction": 0, "audit_event": 0}
    # and the id is still free for a correct delivery
    _, created = create_ticket(sessions, new_ticket(external_id), prediction(), ROUTING, ANALYSIS, actor="intake")
    assert created


def test_naive_datetime_is_rejected(sessions):
    with pytest.raises(Exception, match="naive datetime"):
        create_ticket(sessions, new_ticket(received_at=datetime(2026, 3, 1)), prediction(), ROUTING, ANALYSIS, "intake")
    assert counts(sessions)["ticket"] == 0


def test_lost_race_returns_the_winners_ticket(sessions, monkeypatch):
    """Another writer commits between the pre-check and the insert: the unique constraint catches it."""
    import minsheng.store.tickets as tickets

    winner, _ = create_ticket(sessions, new_ticket(), prediction(), ROUTING, ANALYSIS, actor="intake")
    find, calls = tickets.find_ticket, []

    def miss_once(*args):
        calls.append(args)
        return None if len(calls) == 1 else find(*args)

    monkeypatch.setattr(tickets, "find_ticket", miss_once)
    loser, created = create_ticket(sessions, new_ticket(), prediction(), ROUTING, ANALYSIS, actor="intake")
    assert len(calls) == 2  # pre-check missed, lookup after the IntegrityError found it
    assert not created and loser == winner
    assert counts(sessions) == {"ticket": 1, "prediction": 1, "audit_event": 1}


def test_concurrent_creates_make_one_ticket(db_url):
    # one engine per worker process in production; here 8 threads share one, each with its own connection
    engine = make_engine(db_url)
    migrate(engine)
    sessions = session_factory(engine)
    barrier = threading.Barrier(8)
    results, errors = [], []

    def worker():
        try:
            barrier.wait()
            results.append(create_ticket(sessions, new_ticket("hl-race"), prediction(), ROUTING, ANALYSIS, "intake"))
        except Exception as e:  # collected: an exception in a thread would not fail the test by itself
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert sum(created for _, created in results) == 1
        assert len({t["id"] for t, _ in results}) == 1
        assert counts(sessions) == {"ticket": 1, "prediction": 1, "audit_event": 1}
    finally:
        engine.dispose()


def _migrate_when_all_ready(db_url, barrier, errors):
    try:
        barrier.wait()
        migrate(db_url)
    except Exception as e:
        errors.put(repr(e))


def test_migrations_started_together_take_turns(db_url):
    """Replicas and workers starting together on a fresh database, each a process (alembic's context is global to
    a process): every migrate() succeeds and the schema is made once. Without a lock taken first, the losers fail
    on tables the winner has made."""
    spawn = multiprocessing.get_context("spawn")
    barrier, errors = spawn.Barrier(3), spawn.Queue()
    starts = [spawn.Process(target=_migrate_when_all_ready, args=(db_url, barrier, errors)) for _ in range(3)]
    for p in starts:
        p.start()
    for p in starts:
        p.join()
    assert [p.exitcode for p in starts] == [0] * 3
    assert errors.empty(), errors.get()
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            head = ScriptDirectory.from_config(alembic_config()).get_current_head()
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [head]
    finally:
        engine.dispose()


def test_json_fields_round_trip_chinese(sessions):
    scores = {"domain": {"城乡建设": 0.6, "交通运输": 0.4}, "appeal": {"投诉": 1.0}}
    analysis = Analysis(
        keywords=["噪音", "夜间施工"], places=["北京市朝阳区", "望京SOHO"], pii=[{"type": "身份证", "start": 3, "end": 21}]
    )
    ticket, _ = create_ticket(sessions, new_ticket(), prediction(scores=scores), ROUTING, analysis, actor="接线员")
    assert ticket["keywords"] == ["噪音", "夜间施工"] and ticket["places"] == ["北京市朝阳区", "望京SOHO"]
    with sessions() as s:
        stored = get_ticket(s, ticket["id"])
        assert stored.keywords == ["噪音", "夜间施工"]
        assert stored.places == ["北京市朝阳区", "望京SOHO"]
        assert stored.pii == [{"type": "身份证", "start": 3, "end": 21}]
        assert stored.text.startswith("小区楼下")
        assert s.scalars(select(Prediction.scores)).one() == scores
        assert s.scalars(select(AuditEvent.actor)).one() == "接线员"


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_postgres_connection_loss_is_recovered(sessions, pg_admin):
    """pool_pre_ping: connections killed under the pool (as by a PostgreSQL restart) are replaced, not raised."""
    with sessions() as s:
        pid = s.scalar(text("SELECT pg_backend_pid()"))
    with pg_admin.begin() as conn:
        assert conn.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    with sessions() as s:
        assert count_tickets(s) == 0
        assert s.scalar(text("SELECT pg_backend_pid()")) != pid
