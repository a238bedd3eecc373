// The platform's Ed25519 key, which signs receipts. Production sets PLATFORM_SIGNING_KEY (a PKCS#8
// PEM) and publishes the public key; a development stack makes one on first start and keeps it in
// the data directory, so the receipts it issued stay verifiable after a restart.
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject, sign } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { ConfigError } from "../../config/errors.ts";

export class PlatformKey {
  /** The raw 32-byte public key, hex: what receipts name and the SDK verifies against. */
  readonly publicKeyHex: string;

  private constructor(private readonly privateKey: KeyObject) {
    const jwk = createPublicKey(privateKey).export({ format: "jwk" });
    this.publicKeyHex = Buffer.from(jwk.x!, "base64url").toString("hex");
  }

  static fromPem(pem: string): PlatformKey {
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
    return new PlatformKey(key);
  }

  /** The configured key, else the one in `dataDir` (created with owner-only access if absent). */
  static load(pem: string | undefined, dataDir: string): PlatformKey {
    if (pem) return PlatformKey.fromPem(pem);
    const file = join(dataDir, "platform-signing-key.pem");
    if (!existsSync(file)) {
      mkdirSync(dirname(file), { recursive: true });
      const { privateKey } = generateKeyPairSync("ed25519");
      writeFileSync(file, privateKey.export({ format: "pem", type: "pkcs8" }), { mode: 0o600, flag: "wx" });
    }
    return PlatformKey.fromPem(readFileSync(file, "utf8"));
  }

  /** Ed25519 signature of `message`, hex. */
  signHex(message: Uint8Array): string {
    return sign(null, message, this.privateKey).toString("hex");
  }
}
