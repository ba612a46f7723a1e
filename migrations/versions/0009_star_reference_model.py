"""starpool_result: the star reference model that produced it, its provenance and the uncertainty budget (issue 14)

REF-2 star model (ICD 2.2b): every starpool result records ``reference_model`` ("REF-1" for the
rows before this revision), ``reference`` (library and RSR checksums, templates) and
``a_sigma_components`` (fractions of A per error source, ICD 5).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 16:00:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


# revision identifiers, used by Alembic.
revision: str = '0009'
down_revision: str | Sequence[str] | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('starpool_result', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reference_model', sqlmodel.sql.sqltypes.AutoString(length=16),
                                      server_default='REF-1', nullable=False))
        batch_op.add_column(sa.Column('reference', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('a_sigma_components', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('starpool_result', schema=None) as batch_op:
        batch_op.drop_column('a_sigma_components')
        batch_op.drop_column('reference')
        batch_op.drop_column('reference_model')
