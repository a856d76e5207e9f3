"""etl_files: the lake files each ETL pass took in

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 20:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "etl_files",
        sa.Column("file_seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("run_id", sa.BigInteger(), nullable=False),
        sa.Column("ingested_rows", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("file_seq", name=op.f("pk_etl_files")),
    )
    with op.batch_alter_table("etl_files", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_etl_files_run_id"), ["run_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("etl_files", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_etl_files_run_id"))
    op.drop_table("etl_files")
