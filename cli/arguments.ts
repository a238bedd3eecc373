// Option parsers shared by the CLI's commands: a bad value is refused with the option's name.
import { InvalidArgumentError } from "commander";
import { parseRpcCors, type RpcCors } from "../chain/index.ts";

/** A whole number of at least `minimum`, for the option `name`. */
export function wholeNumber(name: string, minimum: number) {
  return (value: string): number => {
    const number = Number(value);
    if (!Number.isInteger(number) || number < minimum) {
      throw new InvalidArgumentError(`${name} must be a whole number >= ${minimum}, got "${value}"`);
    }
    return number;
  };
}

/** `--rpc-cors`: "all" or a comma-separated list of origins, checked before anything starts. */
export function rpcCors(value: string): RpcCors {
  try {
    return parseRpcCors(value);
  } catch (error) {
    throw new InvalidArgumentError(`--rpc-cors: ${(error as Error).message}`);
  }
}
