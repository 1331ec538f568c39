"""RecordService: wire <-> domain translation; the rules live in ``gateway.usecases.records``."""

from __future__ import annotations

import grpc

from attestgate.gateway.transport.services import wire
from attestgate.gateway.transport.services.audit import checkpoint_message
from attestgate.gateway.usecases.provenance import AssetHistory
from attestgate.gateway.usecases.records import RecordManager
from attestgate.v1 import audit_pb2, record_pb2, record_pb2_grpc

_SERVICE = "/attestgate.v1.RecordService/"


class RecordServicer(record_pb2_grpc.RecordServiceServicer):
    """Provider uploads and erasure; assets' histories."""

    def __init__(self, *, records: RecordManager, history: AssetHistory) -> None:
        self._records = records
        self._history = history

    def PutRecord(
        self, request: record_pb2.PutRecordRequest, context: grpc.ServicerContext
    ) -> record_pb2.RecordReceipt:
        key = wire.idempotency_key(_SERVICE + "PutRecord", request.request_id, request)
        receipt = self._records.put_record(wire.caller(), request.signed_record, key)
        return record_pb2.RecordReceipt(
            name=f"records/{receipt.domain}/{receipt.record_id}",
            domain=receipt.domain,
            record_id=receipt.record_id,
            version=receipt.version,
            create_time=wire.timestamp(receipt.created_at),
            log_index=receipt.log_index,
        )

    def PutFxRates(
        self, request: record_pb2.PutFxRatesRequest, context: grpc.ServicerContext
    ) -> record_pb2.FxRatesReceipt:
        key = wire.idempotency_key(_SERVICE + "PutFxRates", request.request_id, request)
        receipt = self._records.put_fx_rates(wire.caller(), request.signed_rates, key)
        return record_pb2.FxRatesReceipt(
            table_id=receipt.table_id,
            rate_count=receipt.rate_count,
            create_time=wire.timestamp(receipt.created_at),
            log_index=receipt.log_index,
        )

    def EraseSubject(
        self, request: record_pb2.EraseSubjectRequest, context: grpc.ServicerContext
    ) -> record_pb2.ErasureReceipt:
        key = wire.idempotency_key(_SERVICE + "EraseSubject", request.request_id, request)
        receipt = self._records.erase_subject(wire.caller(), request.subject, key)
        return record_pb2.ErasureReceipt(
            subject_pseudonym=receipt.subject_pseudonym,
            records_erased=receipt.records_erased,
            erase_time=wire.timestamp(receipt.erased_at),
            log_index=receipt.log_index,
        )

    def GetAssetHistory(
        self, request: record_pb2.GetAssetHistoryRequest, context: grpc.ServicerContext
    ) -> record_pb2.GetAssetHistoryResponse:
        position = wire.decode_page_position(request.page_token)
        page = self._history.page(
            wire.caller(),
            request.domain,
            request.asset_id,
            consent_id=request.consent_id,
            after=-1 if position is None else position,
            limit=wire.page_size(request.page_size),
        )
        return record_pb2.GetAssetHistoryResponse(
            events=[
                record_pb2.AssetEvent(
                    entry=audit_pb2.LogEntry(index=index, data=leaf), inclusion_proof=proof
                )
                for index, leaf, proof in page.events
            ],
            checkpoint=checkpoint_message(self._history.origin, page.checkpoint),
            next_page_token=wire.encode_page_token(
                None if page.next_after is None else str(page.next_after)
            ),
        )
