"""model promotions

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('model_promotion',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tag', sa.String(length=200), nullable=False),
    sa.Column('previous_tag', sa.String(length=200), nullable=True),
    sa.Column('accepted', sa.Boolean(), nullable=False),
    sa.Column('forced', sa.Boolean(), nullable=False),
    sa.Column('actor', sa.String(length=100), nullable=False),
    sa.Column('reasons', sa.JSON(), nullable=False),
    sa.Column('figures', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_model_promotion'))
    )
    with op.batch_alter_table('model_promotion', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_model_promotion_created_at'), ['created_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('model_promotion', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_model_promotion_created_at'))

    op.drop_table('model_promotion')
