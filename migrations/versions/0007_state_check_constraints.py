"""CHECK constraints on the states of results, runs and jobs (issue 19)

The states are enums in the code now (monitor/domain.py, monitor/catalogue/states.py); the
database refuses any other value, as it already did for acquisition.status, rejection.state,
outbox.status and outbox.kind. The values are exactly those every earlier version wrote, so the
rows of an existing catalogue pass. The SQL is written out here, not built from the enums: a
revision must keep meaning what it meant when it was written.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 14:00:00

"""
from collections.abc import Sequence

from alembic import op


# revision identifiers, used by Alembic.
revision: str = '0007'
down_revision: str | Sequence[str] | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# table -> (constraint name, condition)
CHECKS = {
    'processing_run': ('ck_processing_run_outcome', "outcome IN ('running', 'ok', 'partial', 'failed')"),
    'star_photometry': ('ck_star_photometry_status', "status IN ('ok', 'rejected')"),
    'moon_measurement': ('ck_moon_measurement_status', "status IN ('ok', 'rejected', 'flagged')"),
    'geometry_result': ('ck_geometry_result_status', "status IN ('ok', 'failed')"),
    'job_run': ('ck_job_run_outcome', "outcome IN ('running', 'ok', 'failed', 'timeout', 'crashed', 'interrupted')"),
    'incident': ('ck_incident_last_outcome', "last_outcome IN ('failed', 'timeout', 'crashed')"),
}


def upgrade() -> None:
    for table, (name, condition) in CHECKS.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_check_constraint(batch_op.f(name), condition)


def downgrade() -> None:
    for table, (name, _) in reversed(CHECKS.items()):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(batch_op.f(name), type_='check')
