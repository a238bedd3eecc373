// The platform's Ed25519 key, which signs receipts. Production sets PLATFORM_SIGNING_KEY (a PKCS#8
// PEM) and publishes the public key; a development stack makes one on first start and keeps it in
// the data directory, so the receipts it issued stay verifiable after a restart.
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  sign,
} from "node:crypto";
import { ConfigError } from "../../config/errors.ts";
import { keptSecret } from "./kept-secret.ts";

export class PlatformKey {
  /** The raw 32-byte public key, hex: what receipts name and the SDK verifies against. */
  readonly publicKeyHex: string;
  /** The public key as an SPKI PEM, for tools that take keys in that form. */
  readonly publicKeyPem: string;
  /** A stable name for the key: a digest of the public key. */
  readonly id: string;

  private constructor(
    private readonly privateKey: KeyObject,
    /** When the stack made the key; null for a key supplied in PLATFORM_SIGNING_KEY. */
    readonly createdAt: Date | null,
  ) {
    const publicKey = createPublicKey(privateKey);
    const raw = Buffer.from(publicKey.export({ format: "jwk" }).x!, "base64url");
    this.publicKeyHex = raw.toString("hex");
    this.publicKeyPem = publicKey.export({ format: "pem", type: "spki" }).toString();
    this.id = `rk_${createHash("sha256").update(raw).digest("hex").slice(0, 24)}`;
  }

  static fromPem(pem: string, createdAt: Date | null = null): PlatformKey {
    let key: KeyObject;
    try {
      key = createPrivateKey(pem);
    } catch (error) {
      throw new ConfigError(
        "INVALID_PLATFORM_KEY",
        `PLATFORM_SIGNING_KEY is not a PEM private key: ${(error as Error).message}`,
      );
    }
    if (key.asymmetricKeyType !== "ed25519") {
      throw new ConfigError(
        "INVALID_PLATFORM_KEY",
        `PLATFORM_SIGNING_KEY must be an Ed25519 key, got ${key.asymmetricKeyType ?? "an unknown type"}`,
      );
    }
    return new PlatformKey(key, createdAt);
  }

  /** The configured key, else the one in `dataDir` (created with owner-only access if absent). */
  static load(pem: string | undefined, dataDir: string): PlatformKey {
    if (pem) return PlatformKey.fromPem(pem);
    const kept = keptSecret(dataDir, "platform-signing-key.pem", () =>
      generateKeyPairSync("ed25519").privateKey.export({ format: "pem", type: "pkcs8" }).toString(),
    );
    return PlatformKey.fromPem(kept.value, kept.createdAt);
  }

  /** Ed25519 signature of `message`, hex. */
  signHex(message: Uint8Array): string {
    return sign(null, message, this.privateKey).toString("hex");
  }
}
