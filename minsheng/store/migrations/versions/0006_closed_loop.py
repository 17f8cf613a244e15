"""the closed loop: ticket time limits, resolutions, extensions, supervision notes, citizens' feedback

Tickets stored before this get no due time (due_at NULL): they count in no on-time figure until reopened.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)


def _ticket_fk(table: str) -> sa.Column:
    return sa.Column('ticket_id', sa.Integer(), sa.ForeignKey('ticket.id', ondelete='CASCADE',
                                                              name=f'fk_{table}_ticket_id_ticket'), nullable=False)


def upgrade() -> None:
    op.add_column('ticket', sa.Column('due_rule', sa.String(length=32), nullable=True))
    op.add_column('ticket', sa.Column('due_started_at', TZ, nullable=True))
    op.add_column('ticket', sa.Column('due_at', TZ, nullable=True))
    op.add_column('ticket', sa.Column('overdue_at', TZ, nullable=True))
    op.create_index('ix_ticket_due_at', 'ticket', ['due_at'])

    op.create_table(
        'ticket_resolution',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('id', name='pk_ticket_resolution'),
        _ticket_fk('ticket_resolution'),
        sa.Column('actor', sa.String(length=100), nullable=False),
        sa.Column('queue', sa.String(length=64), nullable=False),
        sa.Column('department', sa.String(length=100), nullable=False),
        sa.Column('domain', sa.String(length=64), nullable=False),
        sa.Column('started_at', TZ, nullable=False),
        sa.Column('due_at', TZ, nullable=True),
        sa.Column('resolved_at', TZ, nullable=False),
        sa.Column('on_time', sa.Boolean(), nullable=True),
        sa.Column('reopened_at', TZ, nullable=True),
        sa.Column('reopen_cause', sa.String(length=16), nullable=True),
        sa.CheckConstraint("reopen_cause IN ('official', 'feedback')", name='ck_ticket_resolution_reopen_cause'),
    )
    op.create_index('ix_ticket_resolution_ticket_id', 'ticket_resolution', ['ticket_id'])
    op.create_index('ix_ticket_resolution_resolved_at', 'ticket_resolution', ['resolved_at'])

    op.create_table(
        'extension_request',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('id', name='pk_extension_request'),
        _ticket_fk('extension_request'),
        sa.Column('requested_by', sa.String(length=100), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('due_at_before', TZ, nullable=True),
        sa.Column('requested_due_at', TZ, nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('decided_by', sa.String(length=100), nullable=True),
        sa.Column('decided_at', TZ, nullable=True),
        sa.Column('note', sa.Text(), nullable=True),
        sa.Column('created_at', TZ, nullable=False),
        sa.CheckConstraint("status IN ('pending', 'approved', 'refused')", name='ck_extension_request_status'),
    )
    op.create_index('ix_extension_request_ticket_id', 'extension_request', ['ticket_id'])
    op.create_index('ix_extension_request_status', 'extension_request', ['status'])

    op.create_table(
        'supervision_note',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('id', name='pk_supervision_note'),
        _ticket_fk('supervision_note'),
        sa.Column('actor', sa.String(length=100), nullable=False),
        sa.Column('note', sa.Text(), nullable=False),
        sa.Column('created_at', TZ, nullable=False),
    )
    op.create_index('ix_supervision_note_ticket_id', 'supervision_note', ['ticket_id'])

    op.create_table(
        'citizen_feedback',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('id', name='pk_citizen_feedback'),
        _ticket_fk('citizen_feedback'),
        sa.Column('resolution_id', sa.Integer(), sa.ForeignKey('ticket_resolution.id', ondelete='CASCADE',
                                                     name='fk_citizen_feedback_resolution_id_ticket_resolution'),
                  nullable=False),
        sa.Column('client_id', sa.String(length=128), nullable=True),
        sa.Column('actor', sa.String(length=100), nullable=False),
        sa.Column('verdict', sa.String(length=8), nullable=False),
        sa.Column('solved', sa.Boolean(), nullable=False),
        sa.Column('comment', sa.Text(), nullable=True),
        sa.Column('reopened', sa.Boolean(), nullable=False),
        sa.Column('created_at', TZ, nullable=False),
        sa.UniqueConstraint('resolution_id', name='uq_citizen_feedback_resolution_id'),
        sa.UniqueConstraint('ticket_id', 'client_id', name='uq_citizen_feedback_client'),
        sa.CheckConstraint("verdict IN ('满意', '基本满意', '不满意')", name='ck_citizen_feedback_verdict'),
    )
    op.create_index('ix_citizen_feedback_ticket_id', 'citizen_feedback', ['ticket_id'])
    op.create_index('ix_citizen_feedback_created_at', 'citizen_feedback', ['created_at'])


def downgrade() -> None:
    op.drop_table('citizen_feedback')
    op.drop_table('supervision_note')
    op.drop_table('extension_request')
    op.drop_table('ticket_resolution')
    op.drop_index('ix_ticket_due_at', table_name='ticket')
    with op.batch_alter_table('ticket') as batch_op:
        for column in ('overdue_at', 'due_at', 'due_started_at', 'due_rule'):
            batch_op.drop_column(column)
