-- CreateEnum
CREATE TYPE "stripe_payment_status" AS ENUM ('processing', 'paid', 'failed');

-- DropIndex
DROP INDEX "stripe_payments_organization_id_idx";

-- AlterTable
ALTER TABLE "stripe_payments" ADD COLUMN     "status" "stripe_payment_status" NOT NULL DEFAULT 'paid',
ADD COLUMN     "updated_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP;

-- CreateIndex
CREATE INDEX "stripe_payments_organization_id_created_at_idx" ON "stripe_payments"("organization_id", "created_at");
