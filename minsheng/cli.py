"""The `minsheng` command: one entry point, a subcommand per job."""
from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path


def _load(ref: str | None):
    from minsheng.classifier import Classifier
    from minsheng.labels import load_labels
    from minsheng.modelstore import model_dir

    labels = load_labels()
    clf = Classifier.load(model_dir(ref))
    clf.check_labels(labels)
    return clf, labels


def cmd_train(args) -> int:
    from minsheng.modelstore import import_model
    from training.train import TrainConfig, train

    cfg = TrainConfig(output=args.output, base_model=args.base_model or "", extra=args.extra or [],
                      epochs=args.epochs, limit=args.limit, seed=args.seed, threads=args.threads)
    path = train(cfg)
    if not args.no_store:
        print(f"stored as {import_model(path).tag}")
    print(f"model saved in {path}")
    return 0


def cmd_evaluate(args) -> int:
    from training.evaluate import evaluate

    clf, labels = _load(args.model)
    report = evaluate(clf, labels, Path(args.out))
    print(report)
    return 0


def cmd_classify(args) -> int:
    from minsheng.batch import InputError, classify_file

    clf, labels = _load(args.model)
    try:
        counts = classify_file(Path(args.input), Path(args.output), clf, labels)
    except (InputError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{counts['rows']} rows classified into {args.output} ({counts['errors']} with errors)")
    return 0


def cmd_models(args) -> int:
    import bentoml

    from minsheng.modelstore import MODEL_NAME, SHIPPED_MODEL, import_model

    if args.action == "import":
        print(import_model(Path(args.path or SHIPPED_MODEL)).tag)
    else:
        for m in bentoml.models.list(MODEL_NAME):
            print(m.tag, m.info.labels.get("label_version", ""), m.info.creation_time.isoformat())
    return 0


def cmd_serve(args) -> int:
    from minsheng.modelstore import resolve

    # resolve (and import the shipped model) once here, so that every worker loads the same version
    os.environ["MINSHENG_MODEL"] = str(resolve(args.model or os.environ.get("MINSHENG_MODEL")).tag)
    cmd = [sys.executable, "-m", "bentoml", "serve", "service.service:Minsheng", "--host", args.host, "--port", str(args.port)]
    os.execvp(cmd[0], cmd)


def cmd_users(args) -> int:
    from minsheng.labels import load_labels
    from service.store import UserError, create_user, list_users, make_engine, migrate, revoke_user, session_factory

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


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(prog="minsheng", description="民声: tag and route citizen feedback")
    sub = parser.add_subparsers(dest="command", required=True)
    model_help = "a saved model folder or a model-store tag (default: latest in the store, else the shipped one)"

    p = sub.add_parser("train", help="train a classifier and put it into the model store")
    p.add_argument("--output", default="build/model")
    p.add_argument("--base-model", help="a local Hugging Face model folder (default: m3e-small)")
    p.add_argument("--extra", action="append", help="extra labeled CSV/JSONL/dataset folder (repeatable)")
    p.add_argument("--epochs", type=float, default=2.0)
    p.add_argument("--limit", type=int, help="train on a sample of this many rows")
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--threads", type=int)
    p.add_argument("--no-store", action="store_true", help="only write the folder")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="report on the dev sets (Markdown, JSON, plots)")
    p.add_argument("--model", help=model_help)
    p.add_argument("--out", default="reports")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("classify", help="tag a CSV or JSONL file")
    p.add_argument("input")
    p.add_argument("output")
    p.add_argument("--model", help=model_help)
    p.set_defaults(func=cmd_classify)

    p = sub.add_parser("models", help="list the model store, or import a model folder into it")
    p.add_argument("action", choices=["list", "import"])
    p.add_argument("path", nargs="?")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("serve", help="start the HTTP service")
    p.add_argument("--host", default=os.environ.get("MINSHENG_HOST", "127.0.0.1"))
    p.add_argument("--port", type=int, default=int(os.environ.get("MINSHENG_PORT", "3000")))
    p.add_argument("--model", help="model-store tag (default: $MINSHENG_MODEL, else latest, else shipped)")
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

    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
