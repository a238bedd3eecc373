-- AlterTable
ALTER TABLE "stripe_payments" ADD COLUMN     "receipt_url" TEXT;
