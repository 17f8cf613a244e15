"""users and review: api_user (hashed API tokens with roles)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('api_user',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('departments', sa.JSON(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("role IN ('intake', 'official', 'admin')", name=op.f('ck_api_user_role')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_user')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_api_user_token_hash'))
    )
    op.create_index('uq_api_user_active_name', 'api_user', ['name'], unique=True,
                    sqlite_where=sa.text('revoked_at IS NULL'), postgresql_where=sa.text('revoked_at IS NULL'))


def downgrade() -> None:
    op.drop_index('uq_api_user_active_name', table_name='api_user')
    op.drop_table('api_user')
