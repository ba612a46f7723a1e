"""geometry_result: orbit model, reported uncertainties and the [geometry] settings used (issue 17)

Rows written before this revision used the Kepler model (their ``orbit_order``) and recorded no
settings: ``orbit_model`` defaults to 'kepler', ``settings`` to an empty object, the sigmas to NULL.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 19:00:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


# revision identifiers, used by Alembic.
revision: str = '0006'
down_revision: str | Sequence[str] | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('geometry_result', schema=None) as batch_op:
        batch_op.add_column(sa.Column('orbit_model', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False,
                                      server_default='kepler'))
        batch_op.add_column(sa.Column('velocity_sigma_x_m_s', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('velocity_sigma_y_m_s', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('velocity_sigma_z_m_s', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('position_sigma_m', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('settings', sa.JSON(), nullable=False, server_default='{}'))
    with op.batch_alter_table('geometry_result', schema=None) as batch_op:
        batch_op.alter_column('orbit_model', server_default=None)
        batch_op.alter_column('settings', server_default=None)


def downgrade() -> None:
    with op.batch_alter_table('geometry_result', schema=None) as batch_op:
        batch_op.drop_column('settings')
        batch_op.drop_column('position_sigma_m')
        batch_op.drop_column('velocity_sigma_z_m_s')
        batch_op.drop_column('velocity_sigma_y_m_s')
        batch_op.drop_column('velocity_sigma_x_m_s')
        batch_op.drop_column('orbit_model')
