"""alert: calibration alerts with a state (open, acknowledged, closed), one active per series and kind (issue 20)

Before, every drift refit added the alerts of its fit as new rows: the same condition was stored
again at each run. Now an alert is opened once, refreshed while its condition holds and closed
when it no longer does. The existing rows are kept: their kinds get the new names (rate ->
drift-rate, departure -> drift-departure), ``created_at`` becomes ``opened_at``, and each is
closed at its creation except the newest of each series and kind raised by the newest drift fit
of that series, which stays open. The SQL is written out here, not built from the enums.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 16:00:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


# revision identifiers, used by Alembic.
revision: str = '0011'
down_revision: str | Sequence[str] | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACTIVE = "state <> 'closed'"


def upgrade() -> None:
    with op.batch_alter_table('alert', schema=None) as batch_op:
        batch_op.alter_column('created_at', new_column_name='opened_at')
        batch_op.add_column(sa.Column('state', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False,
                                      server_default='closed'))
        batch_op.add_column(sa.Column('value', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('sigma', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('threshold', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('last_run_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('acknowledged_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('note', sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True))
        batch_op.add_column(sa.Column('closed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
    op.execute("UPDATE alert SET kind = 'drift-rate' WHERE kind = 'rate'")
    op.execute("UPDATE alert SET kind = 'drift-departure' WHERE kind = 'departure'")
    op.execute("UPDATE alert SET closed_at = opened_at, last_run_id = run_id, updated_at = opened_at")
    op.execute(
        "UPDATE alert SET state = 'open', closed_at = NULL WHERE id IN ("
        " SELECT MAX(a.id) FROM alert a WHERE a.run_id = ("
        "  SELECT MAX(d.run_id) FROM drift_result d WHERE d.satellite = a.satellite AND d.band = a.band"
        "   AND d.method = a.method AND d.quantity = 'a')"
        " GROUP BY a.satellite, a.band, a.method, a.kind)"
    )
    with op.batch_alter_table('alert', schema=None) as batch_op:
        batch_op.alter_column('state', server_default=None)
        batch_op.create_check_constraint(batch_op.f('ck_alert_state'), "state IN ('open', 'acknowledged', 'closed')")
        batch_op.create_check_constraint(
            batch_op.f('ck_alert_kind'), "kind IN ('drift-rate', 'drift-departure', 'mtf-disagreement')")
        batch_op.create_index('ix_alert_active', ['satellite', 'band', 'method', 'kind'], unique=True,
                              sqlite_where=sa.text(ACTIVE), postgresql_where=sa.text(ACTIVE))


def downgrade() -> None:
    with op.batch_alter_table('alert', schema=None) as batch_op:
        batch_op.drop_index('ix_alert_active', sqlite_where=sa.text(ACTIVE), postgresql_where=sa.text(ACTIVE))
        batch_op.drop_constraint(batch_op.f('ck_alert_kind'), type_='check')
        batch_op.drop_constraint(batch_op.f('ck_alert_state'), type_='check')
    op.execute("DELETE FROM alert WHERE kind = 'mtf-disagreement'")
    op.execute("UPDATE alert SET kind = 'rate' WHERE kind = 'drift-rate'")
    op.execute("UPDATE alert SET kind = 'departure' WHERE kind = 'drift-departure'")
    with op.batch_alter_table('alert', schema=None) as batch_op:
        for column in ('closed_at', 'note', 'acknowledged_at', 'updated_at', 'last_run_id', 'threshold', 'sigma',
                       'value', 'state'):
            batch_op.drop_column(column)
        batch_op.alter_column('opened_at', new_column_name='created_at')
