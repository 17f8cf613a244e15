"""Ticket store: SQLAlchemy models, alembic migrations and repository functions."""
from .db import alembic_config, database_url, make_engine, migrate, normalize_url, session_factory
from .models import AuditEvent, Base, HumanLabel, Prediction, Ticket
from .tickets import (
    Analysis,
    NewTicket,
    Routing,
    count_tickets,
    create_ticket,
    get_ticket,
    ticket_to_dict,
)

__all__ = [
    "Analysis",
    "AuditEvent",
    "Base",
    "HumanLabel",
    "NewTicket",
    "Prediction",
    "Routing",
    "Ticket",
    "alembic_config",
    "count_tickets",
    "create_ticket",
    "database_url",
    "get_ticket",
    "make_engine",
    "migrate",
    "normalize_url",
    "session_factory",
    "ticket_to_dict",
]
