"""case base and hot issues

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('hot_issue',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_hot_issue'))
    )
    op.create_table('case_entry',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('source_id', sa.String(length=64), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=True),
    sa.Column('title', sa.String(length=500), nullable=True),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('reply', sa.Text(), nullable=False),
    sa.Column('domain', sa.String(length=64), nullable=False),
    sa.Column('domain_confidence', sa.Double(), nullable=True),
    sa.Column('queue', sa.String(length=64), nullable=False),
    sa.Column('department', sa.String(length=100), nullable=False),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('model_version', sa.String(length=100), nullable=False),
    sa.Column('vector', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("source IN ('replies', 'ticket')", name=op.f('ck_case_entry_source')),
    sa.ForeignKeyConstraint(['ticket_id'], ['ticket.id'], name=op.f('fk_case_entry_ticket_id_ticket'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_entry')),
    sa.UniqueConstraint('source', 'source_id', name='uq_case_entry_source'),
    sa.UniqueConstraint('ticket_id', name=op.f('uq_case_entry_ticket_id'))
    )
    with op.batch_alter_table('case_entry', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_entry_model_version'), ['model_version'], unique=False)

    op.create_table('hot_issue_ticket',
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('issue_id', sa.Integer(), nullable=False),
    sa.Column('matched_ticket_id', sa.Integer(), nullable=True),
    sa.Column('similarity', sa.Double(), nullable=True),
    sa.Column('places', sa.JSON(), nullable=False),
    sa.Column('keywords', sa.JSON(), nullable=False),
    sa.Column('model_version', sa.String(length=100), nullable=False),
    sa.Column('vector', sa.LargeBinary(), nullable=False),
    sa.Column('joined_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['issue_id'], ['hot_issue.id'], name=op.f('fk_hot_issue_ticket_issue_id_hot_issue'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['ticket_id'], ['ticket.id'], name=op.f('fk_hot_issue_ticket_ticket_id_ticket'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('ticket_id', name=op.f('pk_hot_issue_ticket'))
    )
    with op.batch_alter_table('hot_issue_ticket', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_hot_issue_ticket_issue_id'), ['issue_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('hot_issue_ticket', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_hot_issue_ticket_issue_id'))

    op.drop_table('hot_issue_ticket')
    with op.batch_alter_table('case_entry', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_entry_model_version'))

    op.drop_table('case_entry')
    op.drop_table('hot_issue')
