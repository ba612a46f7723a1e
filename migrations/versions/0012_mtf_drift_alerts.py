"""alert: the MTF-at-Nyquist drift alert kinds (mtf-drift-rate, mtf-drift-departure; issue 15)

The MTF stage trends the MTF at Nyquist along and across track over the starpools
(``drift_result`` quantity ``mtf_along``/``mtf_across``, already allowed) and raises alerts on it
through the existing alert machinery: only the check constraint on ``alert.kind`` changes. The
downgrade deletes the alerts of the new kinds (they cannot exist before this revision).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 18:30:00

"""
from collections.abc import Sequence

from alembic import op


# revision identifiers, used by Alembic.
revision: str = '0012'
down_revision: str | Sequence[str] | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_KINDS = "kind IN ('drift-rate', 'drift-departure', 'mtf-disagreement')"
NEW_KINDS = "kind IN ('drift-rate', 'drift-departure', 'mtf-disagreement', 'mtf-drift-rate', 'mtf-drift-departure')"


def upgrade() -> None:
    with op.batch_alter_table('alert', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_alert_kind'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_alert_kind'), NEW_KINDS)


def downgrade() -> None:
    op.execute("DELETE FROM alert WHERE kind IN ('mtf-drift-rate', 'mtf-drift-departure')")
    with op.batch_alter_table('alert', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_alert_kind'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_alert_kind'), OLD_KINDS)
