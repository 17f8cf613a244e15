"""ticket.public_id: the unguessable id a citizen's app looks up progress by (Open311 service_request_id)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""
import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('ticket', sa.Column('public_id', sa.String(32), nullable=True))
    ticket = sa.table('ticket', sa.column('id', sa.Integer), sa.column('public_id', sa.String))
    bind = op.get_bind()
    for (ticket_id,) in bind.execute(sa.select(ticket.c.id)).all():
        bind.execute(ticket.update().where(ticket.c.id == ticket_id).values(public_id=uuid.uuid4().hex))
    with op.batch_alter_table('ticket') as batch_op:
        batch_op.alter_column('public_id', existing_type=sa.String(32), nullable=False)
    op.create_index('ix_ticket_public_id', 'ticket', ['public_id'], unique=True)


def downgrade() -> None:
    op.drop_index('ix_ticket_public_id', table_name='ticket')
    with op.batch_alter_table('ticket') as batch_op:
        batch_op.drop_column('public_id')
