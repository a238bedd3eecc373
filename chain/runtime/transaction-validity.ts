// Why a transaction is refused before it is included, worded as Substrate words it
// (sp_runtime::transaction_validity), which is what clients show after "1010: Invalid Transaction".

const INVALID_REASONS = {
  Call: "Transaction call is not expected",
  Payment: "Inability to pay some fees (e.g. account balance too low)",
  Future: "Transaction will be valid in the future",
  Stale: "Transaction is outdated",
  BadProof: "Transaction has a bad signature",
  AncientBirthBlock: "Transaction has an ancient birth block",
  ExhaustsResources: "Transaction would exhaust the block limits",
  BadMandatory: "A call was labelled as mandatory, but resulted into an Error.",
  MandatoryValidation: "Transaction dispatch is mandatory; transactions must not be validated.",
  BadSigner: "Invalid signing address",
} as const;

export type InvalidReason = keyof typeof INVALID_REASONS;

export class InvalidTransaction extends Error {
  constructor(readonly code: InvalidReason) {
    super(INVALID_REASONS[code]);
    this.name = "InvalidTransaction";
  }
}

const UNKNOWN_REASONS = {
  CannotLookup: "Could not lookup information required to validate the transaction",
  NoUnsignedValidator: "Could not find an unsigned validator for the unsigned transaction",
} as const;

export type UnknownReason = keyof typeof UNKNOWN_REASONS;

export class UnknownTransaction extends Error {
  constructor(readonly code: UnknownReason) {
    super(UNKNOWN_REASONS[code]);
    this.name = "UnknownTransaction";
  }
}
