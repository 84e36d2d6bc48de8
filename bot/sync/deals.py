"""Deals into the store: the outcomes calibration and win rates learn from (SPEC §7, §8).

A backfill loads every deal a CRM has; while `serve` runs, each sweep (HubSpot)
or poll (Salesforce) also loads the deals changed since its own checkpoint,
so a deal won, lost or churned after the backfill reaches the store without
another one. Deals are upserted by (CRM, id): a deal read again updates its
row, never adds one. Nothing is scored or written back for a deal, so deals
skip the inbox: each batch is stored with its checkpoint in one transaction.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from more_itertools import chunked
from sqlalchemy import Engine as Database
from sqlmodel import Session

from bot.store import checkpoints, repo
from bot.store.db import session as open_session
from integrations.base import Deal, LiveCrm

log = logging.getLogger(__name__)

BATCH = 500


def deal_checkpoint(crm: str) -> str:
    """The name of the checkpoint a CRM's deal sweep keeps (beside its records' ones)."""
    return f"{crm}.sweep.deal"


def store_deal(*, session: Session, crm: str, deal: Deal) -> bool:
    """Upsert one deal; False (nothing stored) for one without an account or creation date."""
    if deal.domain is None or deal.created_at is None:
        return False
    repo.upsert_deal(
        session=session,
        crm=crm,
        crm_id=deal.crm_id,
        account_domain=deal.domain,
        name=deal.name,
        stage=deal.stage,
        amount=deal.amount,
        created_at=deal.created_at,
        closed_at=deal.closed_at,
    )
    return True


@dataclass(slots=True)
class DealSweep:
    """What one deal sweep did: deals stored, and deals the CRM could not give an account."""

    stored: int = 0
    skipped: int = 0
    removed: int = 0  # deleted in the CRM, forgotten here


def sweep_deals(
    *,
    crm: LiveCrm,
    database: Database,
    now: datetime,
    first_lookback: timedelta = timedelta(hours=1),
) -> DealSweep:
    """Store every deal changed since the checkpoint, and move the checkpoint past them.

    With no checkpoint yet it looks back `first_lookback`, as the records'
    sweep does: the deals before that are the backfill's to load.
    """
    name = deal_checkpoint(crm.name)
    with open_session(database) as session:
        saved = checkpoints.get(session=session, name=name)
    since = datetime.fromisoformat(saved) if saved else now - first_lookback
    done = DealSweep()
    for batch in chunked(crm.deals_modified_since(since), BATCH):
        latest = max(at for _, at in batch)
        with open_session(database) as session:
            for deal, _ in batch:
                if deal is not None and deal.deleted:
                    repo.remove_deals(session=session, crm=crm.name, crm_ids=[deal.crm_id])
                    done.removed += 1
                elif deal is not None and store_deal(session=session, crm=crm.name, deal=deal):
                    done.stored += 1
                else:
                    done.skipped += 1
            checkpoints.save(session=session, name=name, value=latest.isoformat(), now=now)
    if saved is None:
        with open_session(database) as session:
            if checkpoints.get(session=session, name=name) is None:
                checkpoints.save(session=session, name=name, value=since.isoformat(), now=now)
    return done
