// Stateless checks of a submitted extrinsic: format, signer, call, weight and fee, and the signing
// payload its signature must cover (verified by the caller, possibly off the main thread).
import type { Enum, GenericAccountId, GenericExtrinsic, GenericExtrinsicSignatureV4 } from "@polkadot/types";
import { compactFromU8a, u8aConcat, u8aToHex } from "@polkadot/util";
import { blake2AsU8a } from "@polkadot/util-crypto";
import { type InclusionFee, inclusionFee, totalFee } from "./pallets/transaction-payment.ts";
import { CallDecodeError, type DecodedCall, type Runtime } from "./runtime.ts";
import type { SignatureScheme } from "./signature.ts";
import {
  eraBirth,
  SIGNED_EXTENSIONS,
  type SignedTransaction,
  type ValidationEnv,
} from "./signed-extensions.ts";
import { UnknownTransaction } from "./transaction-validity.ts";

/** The extrinsic bytes are not a valid extrinsic of this runtime (RPC error 1001). */
export class ExtrinsicFormatError extends Error {
  readonly code = "BadFormat";
}

export type CheckedTransaction = SignedTransaction & {
  readonly hash: string;
  /** The block whose hash the signature covers (CheckMortality), as seen when it was checked. */
  readonly birth: number;
  readonly bytes: Uint8Array;
  readonly call: Uint8Array;
  readonly decodedCall: DecodedCall;
  readonly inclusionFee: InclusionFee;
};

export type SignatureCheck = {
  readonly scheme: SignatureScheme;
  readonly signature: Uint8Array;
  readonly message: Uint8Array;
  readonly accountId: Uint8Array;
};

const SIGNED_BIT = 0x80;
const ECDSA_SIGNATURE = 2;

/**
 * A copy of a signed extrinsic whose signature is all zeros, with one signature byte set.
 * @polkadot/types reads an all-zero signature as "not signed" and then takes the signer for the
 * call; clients estimating fees (polkadot-api, dedot) sign with exactly that, and the fee does not
 * depend on the signature (which the copy still fails to verify, as the original would).
 */
function withPlaceholderSignature(runtime: Runtime, bytes: Uint8Array, versionAt: number): Uint8Array {
  const address = runtime.registry.createType("MultiAddress", bytes.subarray(versionAt + 1));
  const schemeAt = versionAt + 1 + address.encodedLength;
  const signatureLength = bytes[schemeAt] === ECDSA_SIGNATURE ? 65 : 64;
  const copy = bytes.slice();
  if (schemeAt + signatureLength < copy.length) copy[schemeAt + signatureLength] = 1;
  return copy;
}

/** Decodes with @polkadot/types, reading an all-zero signature as a signature (see above). */
function readExtrinsic(runtime: Runtime, bytes: Uint8Array): GenericExtrinsic {
  const [versionAt] = compactFromU8a(bytes);
  const signed = ((bytes[versionAt] ?? 0) & SIGNED_BIT) !== 0;
  let extrinsic: GenericExtrinsic | undefined;
  try {
    extrinsic = runtime.registry.createType("Extrinsic", bytes);
  } catch (error) {
    if (!signed) throw error;
  }
  if (extrinsic !== undefined && (extrinsic.isSigned || !signed)) return extrinsic;
  return runtime.registry.createType("Extrinsic", withPlaceholderSignature(runtime, bytes, versionAt));
}

export function decodeExtrinsic(runtime: Runtime, bytes: Uint8Array): GenericExtrinsic {
  let extrinsic: GenericExtrinsic;
  try {
    extrinsic = readExtrinsic(runtime, bytes);
  } catch (error) {
    throw new ExtrinsicFormatError(`Extrinsic has invalid format: ${(error as Error).message}`);
  }
  if (extrinsic.encodedLength !== bytes.length) {
    throw new ExtrinsicFormatError(
      `Extrinsic has invalid format: ${bytes.length - extrinsic.encodedLength} trailing bytes after the extrinsic`,
    );
  }
  return extrinsic;
}

/** Fee parts and weight of a call carried in an extrinsic of `length` bytes. */
export function feeOf(
  runtime: Runtime,
  call: DecodedCall,
  length: number,
): { weight: bigint; fee: InclusionFee } {
  const weight = runtime.weighDecoded(call);
  return { weight, fee: inclusionFee(length, weight) };
}

export function checkExtrinsic(
  runtime: Runtime,
  bytes: Uint8Array,
  env: ValidationEnv,
): { transaction: CheckedTransaction; signature: SignatureCheck } {
  const extrinsic = decodeExtrinsic(runtime, bytes);
  if (!extrinsic.isSigned) throw new UnknownTransaction("NoUnsignedValidator");
  const address = extrinsic.signer as unknown as Enum;
  if (address.type !== "Id") throw new UnknownTransaction("CannotLookup");
  const signerAccount = address.value as GenericAccountId;
  const call = extrinsic.method.toU8a();
  let decodedCall: DecodedCall;
  try {
    decodedCall = runtime.fromCodec(extrinsic.method);
  } catch (error) {
    if (error instanceof CallDecodeError)
      throw new ExtrinsicFormatError(`Extrinsic has invalid format: ${error.message}`);
    throw error;
  }
  const { weight, fee } = feeOf(runtime, decodedCall, bytes.length);
  const tip = extrinsic.tip.toBigInt();
  const signerId = signerAccount.toU8a();
  const transaction: CheckedTransaction = {
    hash: u8aToHex(blake2AsU8a(bytes, 256)),
    bytes,
    call,
    decodedCall,
    inclusionFee: fee,
    signer: signerAccount.toString(),
    signerId,
    era: extrinsic.era,
    birth: eraBirth(extrinsic.era, env.blockNumber),
    nonce: extrinsic.nonce.toNumber(),
    tip,
    length: bytes.length,
    weight,
    fee: totalFee(fee, tip),
  };
  const payload = u8aConcat(
    call,
    ...SIGNED_EXTENSIONS.map((extension) => extension.extra?.(transaction) ?? new Uint8Array()),
    ...SIGNED_EXTENSIONS.map((extension) => extension.additional?.(env, transaction) ?? new Uint8Array()),
  );
  const multiSignature = (extrinsic.inner.signature as unknown as GenericExtrinsicSignatureV4).multiSignature;
  return {
    transaction,
    signature: {
      scheme: multiSignature.type as SignatureScheme,
      signature: multiSignature.value.toU8a(),
      message: payload.length > 256 ? blake2AsU8a(payload, 256) : payload,
      accountId: signerId,
    },
  };
}
