-- CreateTable
CREATE TABLE "transcript_leaves" (
    "chain_task_id" BIGINT NOT NULL,
    "attempt" INTEGER NOT NULL,
    "audit_index" INTEGER NOT NULL,
    "verifier" TEXT NOT NULL,
    "root" TEXT NOT NULL,
    "leaves" BYTEA NOT NULL,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "transcript_leaves_pkey" PRIMARY KEY ("chain_task_id","attempt","audit_index")
);
