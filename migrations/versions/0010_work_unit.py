"""work_unit: units of processing work claimed by any number of workers (issue 18)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 15:45:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


# revision identifiers, used by Alembic.
revision: str = '0010'
down_revision: str | Sequence[str] | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACTIVE = "state IN ('waiting', 'pending', 'claimed')"


def upgrade() -> None:
    op.create_table(
        'work_unit',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('run_id', sa.Integer(), nullable=False),
        sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column('state', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('parent_id', sa.Integer(), nullable=True),
        sa.Column('waiting', sa.Integer(), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('max_attempts', sa.Integer(), nullable=False),
        sa.Column('worker_id', sqlmodel.sql.sqltypes.AutoString(length=160), nullable=True),
        sa.Column('lease_until', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column('heartbeat_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('finished_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column('error', sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
        sa.CheckConstraint("state IN ('waiting', 'pending', 'claimed', 'done', 'failed')", name=op.f('ck_work_unit_state')),
        sa.ForeignKeyConstraint(['parent_id'], ['work_unit.id'], name=op.f('fk_work_unit_parent_id_work_unit')),
        sa.ForeignKeyConstraint(['run_id'], ['processing_run.id'], name=op.f('fk_work_unit_run_id_processing_run')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_work_unit')),
        sa.UniqueConstraint('run_id', 'kind', 'key', name=op.f('uq_work_unit_run_id_kind_key')),
    )
    with op.batch_alter_table('work_unit', schema=None) as batch_op:
        batch_op.create_index('ix_work_unit_state_id', ['state', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_work_unit_parent_id'), ['parent_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_work_unit_run_id'), ['run_id'], unique=False)
        batch_op.create_index('uq_work_unit_active', ['kind', 'key'], unique=True,
                              sqlite_where=sa.text(ACTIVE), postgresql_where=sa.text(ACTIVE))


def downgrade() -> None:
    with op.batch_alter_table('work_unit', schema=None) as batch_op:
        batch_op.drop_index('uq_work_unit_active', sqlite_where=sa.text(ACTIVE), postgresql_where=sa.text(ACTIVE))
        batch_op.drop_index(batch_op.f('ix_work_unit_run_id'))
        batch_op.drop_index(batch_op.f('ix_work_unit_parent_id'))
        batch_op.drop_index('ix_work_unit_state_id')
    op.drop_table('work_unit')
