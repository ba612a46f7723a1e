"""starpool.pending_since: a recomputation of the starpool's results is owed

Set in the commit where new photometry joins a starpool, cleared in the commit that stores the
results recomputed from it: a run interrupted between the two (or a transient failure while
recomputing) leaves the starpool owing, and the next run recomputes it. Existing starpools that
have members but no result at all were interrupted before their first computation: they are
marked owing since their creation (the others were computed when their members joined).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-08 10:00:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


# revision identifiers, used by Alembic.
revision: str = '0004'
down_revision: str | Sequence[str] | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('starpool', schema=None) as batch_op:
        batch_op.add_column(sa.Column('pending_since', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
    op.execute(
        "UPDATE starpool SET pending_since = created_at "
        "WHERE id IN (SELECT starpool_id FROM starpool_member) "
        "AND id NOT IN (SELECT starpool_id FROM starpool_result)"
    )


def downgrade() -> None:
    # An owed recomputation is forgotten: the older code recomputes a starpool only when members join.
    with op.batch_alter_table('starpool', schema=None) as batch_op:
        batch_op.drop_column('pending_since')
