// Uploads a file through the real multipart route, encoded exactly as curl -F or a browser would.
import { readFile } from "node:fs/promises";
import type { App } from "../../api/app.ts";
import type { SignedUp } from "./accounts.ts";

export type FormPart = [name: string, value: string] | [name: string, content: Uint8Array, filename: string];

export async function multipartBody(
  parts: FormPart[],
): Promise<{ payload: Buffer; headers: Record<string, string> }> {
  const form = new FormData();
  for (const [name, value, filename] of parts) {
    if (typeof value === "string") form.append(name, value);
    else form.append(name, new Blob([value]), filename);
  }
  const encoded = new Response(form);
  return {
    payload: Buffer.from(await encoded.arrayBuffer()),
    headers: { "content-type": encoded.headers.get("content-type")! },
  };
}

/** Uploads and returns the new file's id; any status but 201 throws with the response body. */
export async function uploadFile(
  app: App,
  user: SignedUp,
  purpose: "model" | "dataset",
  filename: string,
  content: Uint8Array,
): Promise<string> {
  const { payload, headers } = await multipartBody([
    ["purpose", purpose],
    ["file", content, filename],
  ]);
  const res = await app.inject({
    method: "POST",
    url: "/v1/files",
    payload,
    headers: { ...headers, ...user.headers },
  });
  if (res.statusCode !== 201)
    throw new Error(`upload of ${filename} failed with ${res.statusCode}: ${res.body}`);
  return res.json<{ id: string }>().id;
}

/** The MLP fixture model and the digits dataset it trains on, uploaded for `user`. */
export async function uploadMlpFixtures(
  app: App,
  user: SignedUp,
): Promise<{ model: string; dataset: string }> {
  const fixture = (path: string) =>
    readFile(new URL(`../../worker-runtime/fixtures/${path}`, import.meta.url));
  return {
    model: await uploadFile(app, user, "model", "mlp.onnx", await fixture("mlp.onnx")),
    dataset: await uploadFile(
      app,
      user,
      "dataset",
      "digits.safetensors",
      await fixture("data/digits.safetensors"),
    ),
  };
}
