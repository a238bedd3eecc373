// The runtime APIs through @polkadot/api's `api.call`, which encodes every input and decodes every
// output with the types metadata V15 declares for them: so each call checks a declaration and its
// body together. Metadata V15 itself is decoded and re-encoded with @polkadot/types.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { ApiPromise } from "@polkadot/api";
import type { SubmittableExtrinsic } from "@polkadot/api/types";
import { Keyring } from "@polkadot/keyring";
import { Metadata, TypeRegistry } from "@polkadot/types";
import type { Block } from "@polkadot/types/interfaces";
import type { Codec } from "@polkadot/types/types";
import { bnToU8a, compactStripLength, hexToU8a, u8aConcat, u8aToHex } from "@polkadot/util";
import { blake2AsHex } from "@polkadot/util-crypto";
import { type DevnetWithApi, startDevnetWithApi } from "../../test/support/devnet-api.ts";

const keyring = new Keyring({ type: "sr25519", ss58Format: 42 });
const alice = keyring.addFromUri("//Alice");
const bob = keyring.addFromUri("//Bob");
/** The timestamp inherent's identifier, "timstap0". */
const TIMESTAMP = "0x74696d7374617030";

let api: ApiPromise;

type Value = Codec & Record<string, unknown>;
type Decorated = { call: Record<string, Record<string, unknown> | undefined> };

/** A runtime API method as @polkadot/api decorates it from metadata V15, at the best block or at `at`. */
function call(runtimeApi: string, method: string, at: Decorated = api as unknown as Decorated) {
  const found = at.call[runtimeApi]?.[method];
  assert.ok(typeof found === "function", `metadata V15 has no ${runtimeApi}.${method}`);
  return found as (...args: unknown[]) => Promise<Value>;
}

/** The JSON of a decoded value, bigints and all as @polkadot/types prints them. */
const json = (value: Codec) => value.toJSON() as Record<string, unknown>;

function transfer(amount: bigint): SubmittableExtrinsic<"promise"> {
  return api.tx.balances!.transferKeepAlive!(bob.address, amount);
}

/** Submits and resolves with the hash of the block that includes it. */
function included(extrinsic: SubmittableExtrinsic<"promise">): Promise<string> {
  return new Promise((resolve, reject) => {
    extrinsic
      .signAndSend(alice, (result) => {
        // Under load @polkadot/api may skip InBlock for a Finalized that overtook it.
        if (result.status.isInBlock) resolve(result.status.asInBlock.toHex());
        if (result.status.isFinalized) resolve(result.status.asFinalized.toHex());
      })
      .catch(reject);
  });
}

const inherentData = (now: bigint) => ({
  data: new Map([[TIMESTAMP, u8aToHex(bnToU8a(now, { bitLength: 64 }))]]),
});

/** The metadata `Metadata_metadata_at_version` answers (Option<OpaqueMetadata>), unwrapped. */
async function metadataAt(version: number): Promise<Uint8Array | undefined> {
  const output = hexToU8a(
    (
      await api.rpc.state.call("Metadata_metadata_at_version", u8aToHex(bnToU8a(version, { bitLength: 32 })))
    ).toHex(),
  );
  return output[0] === 0 ? undefined : compactStripLength(output.subarray(1))[1];
}

let fixture: DevnetWithApi | undefined;

before(async () => {
  fixture = await startDevnetWithApi();
  ({ api } = fixture);
});

after(() => fixture?.stop());

describe("runtime APIs", () => {
  it("serve metadata V14 and V15, which @polkadot/types decodes and re-encodes byte for byte", async () => {
    assert.deepEqual(json(await call("metadata", "metadataVersions")()), [14, 15]);
    assert.equal(await metadataAt(16), undefined);
    assert.equal(u8aToHex(await metadataAt(14)), (await api.rpc.state.getMetadata()).toHex());
    const bytes = (await metadataAt(15))!;
    const registry = new TypeRegistry();
    const metadata = new Metadata(registry, bytes);
    registry.setMetadata(metadata);
    assert.equal(metadata.version, 15);
    assert.equal(u8aToHex(metadata.toU8a()), u8aToHex(bytes));

    const v15 = metadata.asV15;
    const path = (id: { toNumber(): number }) => registry.lookup.getSiType(id.toNumber()).path.join("::");
    const variants = (id: { toNumber(): number }) =>
      registry.lookup
        .getSiType(id.toNumber())
        .def.asVariant.variants.map((variant) => `${variant.name}=${variant.index.toNumber()}`);
    const palletsWith = (item: "calls" | "events" | "errors") =>
      v15.pallets
        .filter((pallet) => pallet[item].isSome)
        .map((pallet) => `${pallet.name}=${pallet.index.toNumber()}`);
    assert.deepEqual(variants(v15.outerEnums.callType), palletsWith("calls"));
    assert.deepEqual(variants(v15.outerEnums.eventType), palletsWith("events"));
    assert.deepEqual(variants(v15.outerEnums.errorType), palletsWith("errors"));
    assert.equal(path(v15.outerEnums.errorType), "veritrain_runtime::RuntimeError");
    assert.equal(path(v15.extrinsic.callType), "veritrain_runtime::RuntimeCall");
    assert.equal(path(v15.extrinsic.addressType), "sp_runtime::multiaddress::MultiAddress");
    assert.equal(path(v15.extrinsic.signatureType), "sp_runtime::MultiSignature");
    assert.equal(
      registry.lookup.getSiType(v15.extrinsic.extraType.toNumber()).def.asTuple.length,
      v15.extrinsic.signedExtensions.length,
    );
    assert.equal(path(v15.type), "veritrain_runtime::Runtime");
    assert.deepEqual(
      v15.apis.map((runtimeApi) => blake2AsHex(runtimeApi.name.toString(), 64)).sort(),
      api.runtimeVersion.apis.map(([id]) => id.toHex()).sort(),
      "the runtime version lists exactly the APIs metadata describes",
    );
  });

  it("Core: version, execute_block (a sealed block replays; a forged one is refused), initialize_block", async () => {
    const version = json(await call("core", "version")());
    assert.deepEqual(version, api.runtimeVersion.toJSON());
    const hash = await included(transfer(1_000n));
    const { block } = await api.rpc.chain.getBlock(hash);
    const parent = await api.at(block.header.parentHash);
    const execute = call("core", "executeBlock", parent as unknown as Decorated);
    assert.equal((await execute(block.toU8a())).toHex(), "0x");

    const forged = api.createType("Block", block.toU8a()) as Block;
    forged.header.set("stateRoot", api.createType("Hash", `0x${"11".repeat(32)}`));
    await assert.rejects(execute(forged.toU8a()), /Storage root must match that calculated/);
    await assert.rejects(call("core", "executeBlock")(block.toU8a()), /Parent hash should be valid/);
    assert.equal((await call("core", "initializeBlock")(block.header.toU8a())).toHex(), "0x");
  });

  it("BlockBuilder: a dry run of an extrinsic, the next empty header, inherents and their check", async () => {
    const nonce = (await api.rpc.system.accountNextIndex(alice.address)).toNumber();
    const signed = await transfer(2_000n).signAsync(alice, { nonce });
    assert.deepEqual(json(await call("blockBuilder", "applyExtrinsic")(signed.toU8a())), {
      ok: { ok: null },
    });
    assert.equal((await api.rpc.system.accountNextIndex(alice.address)).toNumber(), nonce, "nothing is kept");
    const stale = await transfer(2_000n).signAsync(alice, { nonce: nonce - 1 });
    assert.deepEqual(json(await call("blockBuilder", "applyExtrinsic")(stale.toU8a())), {
      err: { invalid: { stale: null } },
    });
    const tooMuch = await api.tx.balances!.transferAllowDeath!(bob.address, 10n ** 30n).signAsync(alice, {
      nonce,
    });
    const failed = json(await call("blockBuilder", "applyExtrinsic")(tooMuch.toU8a())) as {
      ok: { err: { module: { index: number } } };
    };
    assert.equal(failed.ok.err.module.index, 2, "Balances' module error, with the fee kept");

    const head = await api.rpc.chain.getHeader();
    const next = (await call("blockBuilder", "finalizeBlock")()) as Value & {
      number: { toNumber(): number };
      parentHash: Codec;
    };
    assert.equal(next.number.toNumber(), head.number.toNumber() + 1);
    assert.equal(next.parentHash.toHex(), head.hash.toHex());

    const now = BigInt(Date.now());
    const inherents = (await call(
      "blockBuilder",
      "inherentExtrinsics",
    )(inherentData(now))) as unknown as Codec[];
    assert.equal(inherents.length, 1);
    const inherent = api.createType("Extrinsic", inherents[0]!.toU8a());
    assert.equal(`${inherent.method.section}.${inherent.method.method}`, "timestamp.set");
    assert.equal(BigInt(inherent.method.args[0]!.toString()), now);

    const { block } = await api.rpc.chain.getBlock(head.hash);
    const time = BigInt(api.createType("Extrinsic", block.extrinsics[0]!.toU8a()).method.args[0]!.toString());
    const parent = (await api.at(block.header.parentHash)) as unknown as Decorated;
    const check = call("blockBuilder", "checkInherents", parent);
    assert.deepEqual(json(await check(block.toU8a(), inherentData(time))), {
      okay: true,
      fatalError: false,
      errors: { data: {} },
    });
    assert.deepEqual(json(await check(block.toU8a(), inherentData(time - 31_000n))), {
      okay: false,
      fatalError: true,
      errors: { data: { [TIMESTAMP]: "0x01" } },
    });
  });

  it("TaggedTransactionQueue: valid with (signer, nonce) tags, a future nonce requires its predecessor", async () => {
    const head = await api.rpc.chain.getHeader();
    const best = head.hash.toHex();
    const nonce = (await api.rpc.system.accountNextIndex(alice.address)).toNumber();
    const tag = (n: number) => u8aToHex(u8aConcat(alice.publicKey, bnToU8a(n, { bitLength: 32 })));
    const validate = call("taggedTransactionQueue", "validateTransaction");
    const mortal = await transfer(3n).signAsync(alice, { nonce });
    const now = json(await validate("External", mortal.toU8a(), best)) as {
      ok: { priority: number; requires: string[]; provides: string[]; longevity: number; propagate: boolean };
    };
    assert.deepEqual(now.ok.provides, [tag(nonce)]);
    assert.deepEqual(now.ok.requires, []);
    assert.ok(now.ok.priority > 0, "a priority from the fee per block space");
    const next = head.number.toNumber() + 1;
    assert.equal(now.ok.longevity, mortal.era.asMortalEra.death(next) - next, "valid until its era ends");
    assert.equal(now.ok.propagate, true);
    const later = json(
      await validate("External", (await transfer(3n).signAsync(alice, { nonce: nonce + 1 })).toU8a(), best),
    ) as { ok: { requires: string[] } };
    assert.deepEqual(later.ok.requires, [tag(nonce)]);
    const forged = (await transfer(3n).signAsync(alice, { nonce })).toU8a();
    forged[forged.length - 10] = forged[forged.length - 10]! ^ 0xff;
    assert.deepEqual(json(await validate("External", forged, best)), {
      err: { invalid: { badProof: null } },
    });
  });

  it("AccountNonceApi, TransactionPaymentApi and TransactionPaymentCallApi agree with the fee charged", async () => {
    const nonce = (await api.rpc.system.accountNextIndex(alice.address)).toNumber();
    assert.equal(Number((await call("accountNonceApi", "accountNonce")(alice.address)).toString()), nonce);
    const extrinsic = await transfer(5n).signAsync(alice, { nonce });
    const length = extrinsic.encodedLength;
    const info = json(await call("transactionPaymentApi", "queryInfo")(extrinsic.toU8a(), length)) as {
      weight: { refTime: number };
      partialFee: number;
    };
    assert.equal(info.partialFee, (await transfer(5n).paymentInfo(alice)).partialFee.toNumber());
    const details = json(
      await call("transactionPaymentApi", "queryFeeDetails")(extrinsic.toU8a(), length),
    ) as {
      inclusionFee: { baseFee: number; lenFee: number; adjustedWeightFee: number };
      tip: number;
    };
    const { baseFee, lenFee, adjustedWeightFee } = details.inclusionFee;
    assert.equal(baseFee + lenFee + adjustedWeightFee, info.partialFee);
    assert.equal(details.tip, 0);
    const weight = { refTime: info.weight.refTime, proofSize: 0 };
    for (const runtimeApi of ["transactionPaymentApi", "transactionPaymentCallApi"]) {
      assert.equal(
        Number((await call(runtimeApi, "queryWeightToFee")(weight)).toString()),
        adjustedWeightFee,
      );
      assert.equal(Number((await call(runtimeApi, "queryLengthToFee")(length)).toString()), lenFee);
    }
    const callInfo = json(
      await call("transactionPaymentCallApi", "queryCallInfo")(extrinsic.method.toU8a(), length),
    );
    assert.deepEqual(callInfo, info);
    const callDetails = json(
      await call("transactionPaymentCallApi", "queryCallFeeDetails")(extrinsic.method.toU8a(), length),
    );
    assert.deepEqual(callDetails, details);
  });
});
