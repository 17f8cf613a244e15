"""initial: ticket, prediction, human_label, audit_event

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('ticket',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=32), nullable=False),
    sa.Column('external_id', sa.String(length=128), nullable=True),
    sa.Column('title', sa.String(length=500), nullable=True),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('contact', sa.String(length=200), nullable=True),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('queue', sa.String(length=64), nullable=False),
    sa.Column('department', sa.String(length=100), nullable=False),
    sa.Column('priority', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('needs_review', sa.Boolean(), nullable=False),
    sa.Column('domain', sa.String(length=64), nullable=False),
    sa.Column('sentiment', sa.String(length=32), nullable=False),
    sa.Column('appeal', sa.String(length=32), nullable=False),
    sa.Column('urgent', sa.Boolean(), nullable=False),
    sa.Column('keywords', sa.JSON(), nullable=False),
    sa.Column('places', sa.JSON(), nullable=False),
    sa.Column('pii', sa.JSON(), nullable=False),
    sa.Column('claimed_by', sa.String(length=100), nullable=True),
    sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reply', sa.Text(), nullable=True),
    sa.Column('model_version', sa.String(length=100), nullable=False),
    sa.CheckConstraint("priority IN ('high', 'normal')", name=op.f('ck_ticket_priority')),
    sa.CheckConstraint("status IN ('open', 'claimed', 'resolved')", name=op.f('ck_ticket_status')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ticket')),
    sa.UniqueConstraint('channel', 'external_id', name='uq_ticket_channel_external')
    )
    op.create_index('ix_ticket_queue_status_priority_created', 'ticket', ['queue', 'status', 'priority', 'created_at'], unique=False)
    op.create_index(op.f('ix_ticket_status'), 'ticket', ['status'], unique=False)
    op.create_table('audit_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=True),
    sa.Column('actor', sa.String(length=100), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['ticket_id'], ['ticket.id'], name=op.f('fk_audit_event_ticket_id_ticket'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_event'))
    )
    op.create_index(op.f('ix_audit_event_created_at'), 'audit_event', ['created_at'], unique=False)
    op.create_index(op.f('ix_audit_event_ticket_id'), 'audit_event', ['ticket_id'], unique=False)
    op.create_table('human_label',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('actor', sa.String(length=100), nullable=False),
    sa.Column('task', sa.String(length=32), nullable=False),
    sa.Column('before', sa.String(length=64), nullable=False),
    sa.Column('after', sa.String(length=64), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('relabel', 'confirm')", name=op.f('ck_human_label_kind')),
    sa.ForeignKeyConstraint(['ticket_id'], ['ticket.id'], name=op.f('fk_human_label_ticket_id_ticket'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_human_label'))
    )
    op.create_index(op.f('ix_human_label_created_at'), 'human_label', ['created_at'], unique=False)
    op.create_index(op.f('ix_human_label_ticket_id'), 'human_label', ['ticket_id'], unique=False)
    op.create_table('prediction',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('model_version', sa.String(length=100), nullable=False),
    sa.Column('label_version', sa.String(length=64), nullable=False),
    sa.Column('domain', sa.String(length=64), nullable=False),
    sa.Column('domain_confidence', sa.Double(), nullable=False),
    sa.Column('sentiment', sa.String(length=32), nullable=False),
    sa.Column('sentiment_confidence', sa.Double(), nullable=False),
    sa.Column('appeal', sa.String(length=32), nullable=False),
    sa.Column('appeal_confidence', sa.Double(), nullable=False),
    sa.Column('urgent', sa.Boolean(), nullable=False),
    sa.Column('urgent_confidence', sa.Double(), nullable=False),
    sa.Column('scores', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['ticket_id'], ['ticket.id'], name=op.f('fk_prediction_ticket_id_ticket'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_prediction'))
    )
    op.create_index(op.f('ix_prediction_ticket_id'), 'prediction', ['ticket_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_prediction_ticket_id'), table_name='prediction')
    op.drop_table('prediction')
    op.drop_index(op.f('ix_human_label_ticket_id'), table_name='human_label')
    op.drop_index(op.f('ix_human_label_created_at'), table_name='human_label')
    op.drop_table('human_label')
    op.drop_index(op.f('ix_audit_event_ticket_id'), table_name='audit_event')
    op.drop_index(op.f('ix_audit_event_created_at'), table_name='audit_event')
    op.drop_table('audit_event')
    op.drop_index(op.f('ix_ticket_status'), table_name='ticket')
    op.drop_index('ix_ticket_queue_status_priority_created', table_name='ticket')
    op.drop_table('ticket')
