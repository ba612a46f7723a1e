"""widen starpool_result.ee_source to 255 characters

The PSF-fit description of the EE correction ("psf-fit (25 stars, chi2/dof 0.98); reported A_k
from the PSF-fit signal (window psf)") is longer than 64 characters: PostgreSQL refused it
(SQLite does not enforce VARCHAR lengths).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 13:20:00

"""
from collections.abc import Sequence

import sqlmodel
from alembic import op


# revision identifiers, used by Alembic.
revision: str = '0002'
down_revision: str | Sequence[str] | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('starpool_result') as batch_op:
        batch_op.alter_column('ee_source', existing_type=sqlmodel.sql.sqltypes.AutoString(length=64),
                              type_=sqlmodel.sql.sqltypes.AutoString(length=255), existing_nullable=False)


def downgrade() -> None:
    # Values longer than 64 characters would not fit: cut them (PostgreSQL refuses otherwise).
    op.execute("UPDATE starpool_result SET ee_source = substr(ee_source, 1, 64) WHERE length(ee_source) > 64")
    with op.batch_alter_table('starpool_result') as batch_op:
        batch_op.alter_column('ee_source', existing_type=sqlmodel.sql.sqltypes.AutoString(length=255),
                              type_=sqlmodel.sql.sqltypes.AutoString(length=64), existing_nullable=False)
