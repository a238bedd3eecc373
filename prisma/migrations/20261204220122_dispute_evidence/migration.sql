-- CreateTable
CREATE TABLE "dispute_evidence" (
    "chain_dispute_id" BIGINT NOT NULL,
    "party" TEXT NOT NULL,
    "sha256" TEXT NOT NULL,
    "size_bytes" BIGINT NOT NULL,
    "updated_at" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "dispute_evidence_pkey" PRIMARY KEY ("chain_dispute_id","party")
);
