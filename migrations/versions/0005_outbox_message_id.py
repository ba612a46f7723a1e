"""outbox.message_id and outbox.uncertain: interrupted e-mails are retried with the same Message-ID

``message_id`` is stored in the row before the first attempt and sent unchanged at every retry
(a receiver can recognise a repeat); ``uncertain`` records that an attempt was interrupted after
the server may have received the message. Existing rows get an empty ``message_id`` (one is
assigned at their next attempt) and ``uncertain`` false.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 19:00:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


# revision identifiers, used by Alembic.
revision: str = '0005'
down_revision: str | Sequence[str] | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        # the server defaults only fill the existing rows and are dropped below
        batch_op.add_column(sa.Column('message_id', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False,
                                      server_default=''))
        batch_op.add_column(sa.Column('uncertain', sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        for name in ('message_id', 'uncertain'):
            batch_op.alter_column(name, server_default=None)


def downgrade() -> None:
    # The older code derives the Message-ID from the row id (the same at every attempt) and marks
    # a row interrupted mid-send failed; the stored id and the uncertain flag are forgotten.
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_column('uncertain')
        batch_op.drop_column('message_id')
