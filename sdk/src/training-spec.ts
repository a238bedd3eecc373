// Generated from worker-runtime/train/training-spec.schema.json by
// scripts/write-sdk-training-spec.ts: do not edit by hand.

export interface TrainingSpec {
  /**
   * Model input name -> dataset tensor name (axis 0 indexes samples).
   */
  inputs: {
    /**
     * This interface was referenced by `undefined`'s JSON-Schema definition
     * via the `patternProperty` "^(.*)$".
     */
    [k: string]: string;
  };
  /**
   * Dataset tensor holding the targets (axis 0 indexes samples).
   */
  target: string;
  /**
   * Model output the loss is computed on.
   */
  output: string;
  loss: {
    /**
     * cross_entropy: logits [N, C] (or [N, C, ...]) against int64 class indices, mean over samples (torch.nn.functional.cross_entropy). mse: mean squared error. bce_with_logits: mean binary cross-entropy on logits (torch.nn.functional.binary_cross_entropy_with_logits).
     */
    type: "cross_entropy" | "mse" | "bce_with_logits";
    /**
     * cross_entropy only: torch's label_smoothing. Default 0.
     */
    label_smoothing?: number;
  };
  /**
   * Passes over the training data. At least one of epochs and max_steps.
   */
  epochs?: number;
  /**
   * Optimizer steps; with epochs, training stops at whichever comes first.
   */
  max_steps?: number;
  /**
   * Samples per optimizer step.
   */
  batch_size: number;
  optimizer: {
    /**
     * Update rule, exactly as torch.optim.SGD / Adam / AdamW.
     */
    type: "sgd" | "adam" | "adamw";
    /**
     * Base learning rate (the schedule scales it).
     */
    lr: number;
    /**
     * sgd only. Default 0.
     */
    momentum?: number;
    /**
     * sgd only. Default 0.
     */
    dampening?: number;
    /**
     * sgd only; needs momentum > 0 and dampening 0. Default false.
     */
    nesterov?: boolean;
    /**
     * L2 penalty added to the gradient (sgd, adam) or decoupled decay (adamw). Default 0 (adamw: 0.01).
     */
    weight_decay?: number;
    /**
     * adam/adamw only. Default [0.9, 0.999].
     *
     * @minItems 2
     * @maxItems 2
     */
    betas?: [number, number];
    /**
     * adam/adamw only. Default 1e-8.
     */
    eps?: number;
  };
  schedule?: {
    /**
     * Per optimizer step, after warm-up: constant; step (torch StepLR: lr * gamma^floor(t / step_size)); cosine (torch CosineAnnealingLR, closed form, T_max = remaining steps, eta_min = min_lr); linear (decay from lr to min_lr over the remaining steps). Default constant.
     */
    type?: "constant" | "step" | "cosine" | "linear";
    /**
     * Linear warm-up: step t < W uses lr * (t + 1) / W (torch LinearLR(start_factor=1/W, total_iters=W-1)); the schedule then starts at t = W with its own clock at 0. Default 0.
     */
    warmup_steps?: number;
    /**
     * step only: steps between decays. Required for step.
     */
    step_size?: number;
    /**
     * step only: decay factor. Default 0.1.
     */
    gamma?: number;
    /**
     * cosine and linear: final lr. Default 0.
     */
    min_lr?: number;
  };
  /**
   * Clip the global gradient L2 norm (torch clip_grad_norm_).
   */
  clip_grad_norm?: number;
  /**
   * PRNG seed. Default 0.
   */
  seed?: number;
  /**
   * Reshuffle the samples every epoch. Default true.
   */
  shuffle?: boolean;
  /**
   * Drop the last partial batch of each epoch. Default false.
   */
  drop_last?: boolean;
  /**
   * Either a held-out fraction of the training tensors, or separate dataset tensors.
   */
  validation?:
    | {
        /**
         * Hold out this fraction of the samples (chosen with the seed, before training).
         */
        fraction: number;
      }
    | {
        /**
         * Model input name -> dataset tensor holding the validation samples.
         */
        inputs: {
          /**
           * This interface was referenced by `undefined`'s JSON-Schema definition
           * via the `patternProperty` "^(.*)$".
           */
          [k: string]: string;
        };
        /**
         * Dataset tensor holding the validation targets.
         */
        target: string;
      };
  /**
   * Checkpoint every k optimizer steps (plus step 0 and the final step). Default 100.
   */
  checkpoint_every?: number;
  /**
   * Initializer names that are not trained. Default [].
   */
  frozen?: string[];
}
