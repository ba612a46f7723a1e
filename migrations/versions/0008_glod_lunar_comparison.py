"""glod_observation and lunar_comparison: GSICS lunar observation files and their comparisons (issue 16)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 12:00:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


# revision identifiers, used by Alembic.
revision: str = '0008'
down_revision: str | Sequence[str] | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'glod_observation',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('observation_id', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column('sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('file_name', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column('size_bytes', sa.BigInteger(), nullable=False),
        sa.Column('instrument', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('date_obs', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('sat_pos_x_km', sa.Float(), nullable=False),
        sa.Column('sat_pos_y_km', sa.Float(), nullable=False),
        sa.Column('sat_pos_z_km', sa.Float(), nullable=False),
        sa.Column('sat_pos_ref', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('channels', sa.JSON(), nullable=False),
        sa.Column('archive_path', sqlmodel.sql.sqltypes.AutoString(length=1024), nullable=False),
        sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('received_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('archived_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.CheckConstraint("status IN ('archiving', 'archived', 'missing')", name=op.f('ck_glod_observation_status')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_glod_observation')),
        sa.UniqueConstraint('observation_id', name=op.f('uq_glod_observation_observation_id')),
        sa.UniqueConstraint('sha256', name=op.f('uq_glod_observation_sha256')),
    )
    with op.batch_alter_table('glod_observation', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_glod_observation_date_obs'), ['date_obs'], unique=False)
        batch_op.create_index(batch_op.f('ix_glod_observation_instrument'), ['instrument'], unique=False)
    op.create_table(
        'lunar_comparison',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('run_id', sa.Integer(), nullable=False),
        sa.Column('observation_id', sa.Integer(), nullable=False),
        sa.Column('channel', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column('message', sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
        sa.Column('dc_integrated', sa.Float(), nullable=True),
        sa.Column('dc_file', sa.Float(), nullable=True),
        sa.Column('irr_obs', sa.Float(), nullable=True),
        sa.Column('irr_model', sa.Float(), nullable=True),
        sa.Column('ratio', sa.Float(), nullable=True),
        sa.Column('ratio_sigma', sa.Float(), nullable=True),
        sa.Column('phase_angle_deg', sa.Float(), nullable=True),
        sa.Column('sun_selenographic_lon_deg', sa.Float(), nullable=True),
        sa.Column('obs_selenographic_lat_deg', sa.Float(), nullable=True),
        sa.Column('obs_selenographic_lon_deg', sa.Float(), nullable=True),
        sa.Column('d_sun_moon_km', sa.Float(), nullable=True),
        sa.Column('d_obs_moon_km', sa.Float(), nullable=True),
        sa.Column('budget', sa.JSON(), nullable=False),
        sa.Column('in_trend', sa.Boolean(), nullable=False),
        sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['observation_id'], ['glod_observation.id'],
                                name=op.f('fk_lunar_comparison_observation_id_glod_observation')),
        sa.ForeignKeyConstraint(['run_id'], ['processing_run.id'],
                                name=op.f('fk_lunar_comparison_run_id_processing_run')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_lunar_comparison')),
        sa.UniqueConstraint('run_id', 'observation_id', 'channel',
                            name=op.f('uq_lunar_comparison_run_id_observation_id_channel')),
    )
    with op.batch_alter_table('lunar_comparison', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_lunar_comparison_observation_id'), ['observation_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_lunar_comparison_run_id'), ['run_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('lunar_comparison', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_lunar_comparison_run_id'))
        batch_op.drop_index(batch_op.f('ix_lunar_comparison_observation_id'))
    op.drop_table('lunar_comparison')
    with op.batch_alter_table('glod_observation', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_glod_observation_instrument'))
        batch_op.drop_index(batch_op.f('ix_glod_observation_date_obs'))
    op.drop_table('glod_observation')
