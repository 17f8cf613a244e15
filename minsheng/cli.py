"""The `minsheng` command: one entry point, a subcommand per job."""
from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from minsheng.settings import settings


def _database():
    """The service's database ($MINSHENG_DB_URL, else SQLite under $MINSHENG_DATA_DIR), migrated to head."""
    from minsheng.store import make_engine, migrate, session_factory

    engine = make_engine()
    migrate(engine)
    return engine, session_factory(engine)


def _load(ref: str | None, quantize: str = "off"):
    """A model folder or store tag; by default the model that serves (store.serving_tag)."""
    from minsheng.core.labels import load_labels
    from minsheng.model.classifier import Classifier
    from minsheng.model.registry import model_dir
    from minsheng.store import serving_tag

    if not ref:
        engine, sessions = _database()
        with sessions() as session:
            ref = serving_tag(session)
        engine.dispose()
    labels = load_labels()
    clf = Classifier.load(model_dir(ref), quantize=quantize)
    clf.check_labels(labels)
    return clf, labels


def cmd_train(args) -> int:
    from minsheng.model.registry import import_model
    from minsheng.training.train import TrainConfig, train

    cfg = TrainConfig(output=args.output, base_model=args.base_model or "", extra=args.extra or [],
                      limit=args.limit, seed=args.seed, threads=args.threads,
                      encoder_from=args.encoder_from or "", init_from=args.init_from or "",
                      **({"data_dir": args.data_dir} if args.data_dir else {}),
                      **({"epochs": args.epochs} if args.epochs else {}),
                      **({"lr": args.lr} if args.lr else {}))
    path = train(cfg)
    if not args.no_store:
        print(f"stored as {import_model(path).tag}")
    print(f"model saved in {path}")
    return 0


def cmd_evaluate(args) -> int:
    if args.compare:
        from minsheng.model.embedding import served_quantize
        from minsheng.training.compare import render_comparison, score

        # as the promotion gate scores them: as served
        (current, labels), (candidate, _) = (_load(ref, quantize=served_quantize()) for ref in args.compare)
        holdout = Path(args.holdout) if args.holdout else None
        n = args.benchmark_limit
        print(render_comparison(score(current, labels, holdout, n), score(candidate, labels, holdout, n)))
        return 0
    from minsheng.settings import SERVED_QUANTIZE
    from minsheng.training.evaluate import evaluate

    clf, labels = _load(args.model)
    served, _ = _load(args.model, quantize=SERVED_QUANTIZE)  # as the service runs it, reported beside fp32
    print(evaluate(clf, labels, Path(args.out), served))
    return 0


def cmd_classify(args) -> int:
    from minsheng.model.embedding import served_quantize
    from minsheng.serving.batch import InputError, classify_file

    clf, labels = _load(args.model, quantize=served_quantize())  # the service's tags, at its speed
    try:
        counts = classify_file(Path(args.input), Path(args.output), clf, labels)
    except (InputError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{counts['rows']} rows classified into {args.output} ({counts['errors']} with errors)")
    return 0


def cmd_models(args) -> int:
    import bentoml

    from minsheng.model.registry import MODEL_NAME, SHIPPED_MODEL, import_model

    if args.action == "import":
        print(import_model(Path(args.path or SHIPPED_MODEL)).tag)
    else:
        for m in bentoml.models.list(MODEL_NAME):
            print(m.tag, m.info.labels.get("label_version", ""), m.info.creation_time.isoformat())
    return 0


def cmd_bento(args) -> int:
    """bentoml build with bentofile.yaml, packing the model that serves here as the image's default (a later
    promotion there still takes over)."""
    import tempfile

    import bentoml
    import yaml

    from minsheng.model.registry import stored_model
    from minsheng.settings import PROJECT_DIR
    from minsheng.store import serving_tag

    engine, sessions = _database()
    with sessions() as session:
        tag = str(stored_model(serving_tag(session)).tag)
    engine.dispose()
    spec = yaml.safe_load((PROJECT_DIR / "bentofile.yaml").read_text(encoding="utf-8"))
    spec["models"] = [tag]
    spec["envs"] = [*spec.get("envs", []), {"name": "MINSHENG_DEFAULT_MODEL", "value": tag}]
    with tempfile.TemporaryDirectory() as tmp:
        bentofile = Path(tmp) / "bentofile.yaml"
        bentofile.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
        bento = bentoml.bentos.build_bentofile(str(bentofile), build_ctx=str(PROJECT_DIR))
    print(f"built {bento.tag} serving {tag}")
    return 0


def cmd_export_labels(args) -> int:
    from datetime import datetime, timezone

    from minsheng.training.export import export_labels

    since = datetime.fromisoformat(args.since).replace(tzinfo=timezone.utc) if args.since else None
    engine, sessions = _database()
    with sessions() as session:
        counts = export_labels(session, Path(args.out), since)
    engine.dispose()
    print(f"{counts['train']} labeled tickets for training, {counts['holdout']} held back for the benchmark, "
          f"in {args.out}/ (train.jsonl, holdout.jsonl, hf/)")
    return 0


def cmd_promote(args) -> int:
    from minsheng.core.labels import load_labels
    from minsheng.training.promote import promote

    engine, sessions = _database()
    decision, comparison = promote(sessions, load_labels(), args.tag, args.actor, args.tolerance, args.force,
                                   Path(args.holdout) if args.holdout else None, args.benchmark_limit)
    engine.dispose()
    print(comparison)
    if decision.accepted:
        print(f"\npromoted {args.tag}" + (" (forced)" if args.force and decision.reasons else "") +
              "; running services switch with POST /api/admin/reload or at their next start")
        return 0
    print("\nrefused: " + "; ".join(decision.reasons), file=sys.stderr)
    return 1


# glibc gives each thread that allocates its own heap (arena), up to 8 per core: the workers' many threads (the
# batch workers, torch's, BentoML's) each kept memory in theirs. Two arenas: the service's memory grew 35% less
# under load (bench/README.md, finding 17). Read by each process at its start, so set before BentoML starts.
MALLOC_ARENA_MAX = "2"


def cmd_serve(args) -> int:
    from minsheng.model.registry import stored_model

    engine, _ = _database()  # migrated once here, before BentoML starts its workers
    engine.dispose()
    stored_model(None)  # the shipped model is in the store before the model service looks for it
    if args.model:
        os.environ["MINSHENG_MODEL"] = args.model
    os.environ.setdefault("MALLOC_ARENA_MAX", MALLOC_ARENA_MAX)
    cmd = [sys.executable, "-m", "bentoml", "serve", "minsheng.serving.service:Minsheng", "--host", args.host, "--port", str(args.port)]
    os.execvp(cmd[0], cmd)


def cmd_cases(args) -> int:
    from minsheng.assist.cases import REPLIES_CSV, build_case_base
    from minsheng.model.embedding import served_quantize

    clf, labels = _load(args.model, quantize=served_quantize())  # vectors as the service computes them
    engine, sessions = _database()
    try:
        counts = build_case_base(sessions, clf, labels, Path(args.file or settings().cases_file or REPLIES_CSV),
                                 args.limit)
    finally:
        engine.dispose()
    print(f"case base for model {clf.version} ({clf.quantize}): {counts['cases']} cases from the file "
          f"({counts['embedded']} embedded, "
          f"{counts['unchanged']} unchanged), {counts['tickets']} resolved tickets added, "
          f"{counts['hot_issue_tickets']} open grouped tickets re-embedded")
    return 0


def cmd_users(args) -> int:
    from minsheng.core.labels import load_labels
    from minsheng.store import (
        UserError,
        create_user,
        list_users,
        make_engine,
        migrate,
        revoke_user,
        session_factory,
    )

    engine = make_engine()
    migrate(engine)
    sessions = session_factory(engine)
    try:
        if args.action == "add":
            user, token = create_user(sessions, load_labels(), args.name, args.role, args.queue or ())
            print(f"token for {user.name} ({user.role}), shown only now:\n{token}")
        elif args.action == "revoke":
            print(f"revoked {revoke_user(sessions, args.name).name}")
        else:
            with sessions() as session:
                for u in list_users(session):
                    revoked = f"revoked {u.revoked_at:%Y-%m-%d %H:%M}" if u.revoked_at else "active"
                    print(f"{u.name}\t{u.role}\t{','.join(u.departments) or '-'}\t{u.created_at:%Y-%m-%d}\t{revoked}")
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    return 0


def cmd_retention(args) -> int:
    from datetime import date

    from minsheng.store.privacy import erase_citizen, erase_closed_before

    external = []
    for ref in args.external_id or ():
        channel, sep, external_id = ref.partition(":")
        if not (sep and channel and external_id):
            print(f"error: --external-id {ref!r}: give CHANNEL:EXTERNAL_ID", file=sys.stderr)
            return 2
        external.append((channel, external_id))
    try:
        day = date.fromisoformat(args.closed_before) if args.closed_before else None
    except ValueError:
        print(f"error: --closed-before {args.closed_before!r}: give an ISO date (2026-01-31)", file=sys.stderr)
        return 2
    if not (day or args.citizen or args.ticket or external):
        print("error: give --closed-before DATE, or the citizen: --citizen CONTACT, --ticket ID, "
              "--external-id CHANNEL:ID", file=sys.stderr)
        return 2
    engine, sessions = _database()
    try:
        erased = []
        if day:
            erased += erase_closed_before(sessions, day, args.actor)
        if args.citizen or args.ticket or external:
            erased += erase_citizen(sessions, args.actor, args.citizen, args.ticket or (), external)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    print(f"erased the contact and unmasked text of {len(erased)} tickets" +
          (f": {', '.join(map(str, erased))}" if erased and len(erased) <= 50 else ""))
    return 0


def cmd_webhooks(args) -> int:
    from minsheng.store.events import (
        WebhookError,
        add_webhook,
        list_webhooks,
        remove_webhook,
    )

    engine, sessions = _database()
    try:
        if args.action == "add":
            hook, secret = add_webhook(sessions, args.name, args.url, args.event or (), actor=args.actor)
            print(f"webhook {hook.name} -> {hook.url} ({', '.join(hook.events) or 'all events'}); "
                  f"its signing secret, shown only now:\n{secret}")
        elif args.action == "remove":
            print(f"removed {remove_webhook(sessions, args.name, actor=args.actor).name}")
        else:
            with sessions() as session:
                for h in list_webhooks(session):
                    print(f"{h['name']}\t{h['url']}\t{','.join(h['events']) or 'all'}\t{h['pending']} pending\t"
                          f"{h['delivered']} delivered\t{h['last_error'] or '-'}")
    except WebhookError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    return 0


def cmd_deliver(args) -> int:
    from minsheng.serving.delivery import deliver_all_due

    engine, sessions = _database()
    try:
        print(f"{deliver_all_due(sessions)} events delivered")
    finally:
        engine.dispose()
    return 0


LIMIT_HELP = "score on the first N rows of each benchmark file only (quick checks; the gate is weaker)"


def _usage_tracking() -> None:
    """BentoML reports usage to its vendor unless BENTOML_DO_NOT_TRACK is "true" (read once, by its CLI, its model
    store and `bentoml serve`, which inherits it from `minsheng serve`): off unless MINSHENG_USAGE_TRACKING=on."""
    if not settings().usage_tracking:
        os.environ["BENTOML_DO_NOT_TRACK"] = "True"


def main(argv: list[str] | None = None) -> int:
    _usage_tracking()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(prog="minsheng", description="民声: tag and route citizen feedback")
    sub = parser.add_subparsers(dest="command", required=True)
    model_help = "a saved model folder or a model-store tag (default: the production model)"

    p = sub.add_parser("train", help="train a classifier and put it into the model store")
    p.add_argument("--output", default="build/model")
    p.add_argument("--base-model", help="a local Hugging Face model folder (default: m3e-small)")
    p.add_argument("--data-dir", help="base training data folder (default: the project's data/)")
    p.add_argument("--encoder-from", metavar="MODEL_DIR",
                   help="keep this saved model's fine-tuned encoder: refit only the TF-IDF heads and the blend")
    p.add_argument("--init-from", metavar="MODEL_DIR",
                   help="continue fine-tuning this saved model (its encoder and heads) instead of starting from the "
                        "base model")
    p.add_argument("--extra", action="append",
                   help="extra labeled CSV/JSONL/dataset folder, e.g. export-labels' train.jsonl (repeatable); "
                        "each row is seen 3 times an epoch")
    p.add_argument("--epochs", type=float, help="passes over the training rows (default: TrainConfig's)")
    p.add_argument("--lr", type=float, help="the encoder's learning rate (default: TrainConfig's)")
    p.add_argument("--limit", type=int, help="train on a sample of this many rows")
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--threads", type=int)
    p.add_argument("--no-store", action="store_true", help="only write the folder")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="report on the dev sets (Markdown, JSON, plots)")
    p.add_argument("--model", help=model_help)
    p.add_argument("--out", default="reports")
    p.add_argument("--compare", nargs=2, metavar=("CURRENT", "CANDIDATE"),
                   help="print per-head, per-class differences of two models on the fixed benchmark")
    p.add_argument("--holdout", help="export-labels' holdout.jsonl, added to the benchmark")
    p.add_argument("--benchmark-limit", type=int, help=LIMIT_HELP)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("export-labels", help="officials' verified labels as training data (PII masked)")
    p.add_argument("--since", help="ISO date: only labels given since then")
    p.add_argument("--out", default="build/labels")
    p.set_defaults(func=cmd_export_labels)

    p = sub.add_parser("promote", help="make a model the production one if the benchmark says it is not worse")
    p.add_argument("tag")
    p.add_argument("--actor", default=os.environ.get("USER", "unknown"), help="who promotes (recorded)")
    p.add_argument("--tolerance", type=float, default=0.02, help="largest allowed drop of any domain's F1")
    p.add_argument("--holdout", help="export-labels' holdout.jsonl, added to the benchmark")
    p.add_argument("--force", action="store_true", help="promote even if worse (recorded as forced)")
    p.add_argument("--benchmark-limit", type=int, help=LIMIT_HELP)
    p.set_defaults(func=cmd_promote)

    p = sub.add_parser("classify", help="tag a CSV or JSONL file (the model as served: $MINSHENG_QUANTIZE)")
    p.add_argument("input")
    p.add_argument("output")
    p.add_argument("--model", help=model_help)
    p.set_defaults(func=cmd_classify)

    p = sub.add_parser("models", help="list the model store, or import a model folder into it")
    p.add_argument("action", choices=["list", "import"])
    p.add_argument("path", nargs="?")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("bento", help="bentoml build: a bento with the model that serves here (for containerize)")
    p.set_defaults(func=cmd_bento)

    p = sub.add_parser("serve", help="start the HTTP service")
    p.add_argument("--host", default=settings().host)
    p.add_argument("--port", type=int, default=settings().port)
    p.add_argument("--model", help="pin a model-store tag (default: $MINSHENG_MODEL, else the production model)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("users", help="API users and their tokens (database: $MINSHENG_DB_URL or $MINSHENG_DATA_DIR)")
    users = p.add_subparsers(dest="action", required=True)
    u = users.add_parser("add", help="create a user and print its token (once)")
    u.add_argument("name")
    u.add_argument("--role", required=True, help="intake, official or admin")
    u.add_argument("--queue", action="append", help="a queue id the official works on (repeatable)")
    users.add_parser("list", help="all users, revoked ones included")
    u = users.add_parser("revoke", help="revoke a user's token")
    u.add_argument("name")
    p.set_defaults(func=cmd_users)

    p = sub.add_parser("cases", help="the case base of past replies for similar cases (database as for users)")
    cases = p.add_subparsers(dest="action", required=True)
    c = cases.add_parser("build", help="embed data/cases (and resolved tickets) with the model as served "
                           "($MINSHENG_QUANTIZE); idempotent")
    c.add_argument("--file", help="CSV with id, title, text, reply, reply_time (default: data/cases/replies.csv)")
    c.add_argument("--limit", type=int, help="only the first N cases of the file")
    c.add_argument("--model", help=model_help)
    p.set_defaults(func=cmd_cases)

    p = sub.add_parser("retention", help="erase contacts and unmasked text (masked text, labels and audit trail "
                                         "stay); database as for users")
    p.add_argument("--closed-before", metavar="DATE", help="every ticket resolved before this day (Beijing time)")
    p.add_argument("--citizen", metavar="CONTACT", help="one citizen on request: every ticket with this contact "
                                                        "(phone numbers match whatever their spacing or +86)")
    p.add_argument("--ticket", type=int, action="append", metavar="ID", help="a ticket id (repeatable)")
    p.add_argument("--external-id", action="append", metavar="CHANNEL:ID",
                   help="a ticket by the channel's own id, e.g. 12345:call-0001 (repeatable)")
    p.add_argument("--actor", default=os.environ.get("USER", "unknown"), help="who erases (recorded)")
    p.set_defaults(func=cmd_retention)

    p = sub.add_parser("webhooks", help="receivers of the public events (database as for users)")
    p.add_argument("--actor", default=os.environ.get("USER", "unknown"), help="who adds or removes (recorded)")
    hooks = p.add_subparsers(dest="action", required=True)
    w = hooks.add_parser("add", help="register a URL and print its signing secret (once)")
    w.add_argument("name")
    w.add_argument("url")
    w.add_argument("--event", action="append", help="an event type it takes (repeatable; default: all)")
    hooks.add_parser("list", help="the webhooks with their pending and delivered events")
    w = hooks.add_parser("remove", help="remove a webhook and what it is still owed")
    w.add_argument("name")
    p.set_defaults(func=cmd_webhooks)

    p = sub.add_parser("deliver", help="send the due events to the webhooks once, then exit (the service does it "
                                       "in the background unless MINSHENG_DELIVER=off)")
    p.set_defaults(func=cmd_deliver)

    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
