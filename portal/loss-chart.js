// The live loss chart of a training job, drawn as SVG from its events: the training loss the
// worker reports as it goes (training.progress, about one a second) and each epoch's figures
// (training.epoch as an epoch closes, or all of them in training.completed): its training loss
// on the line, its validation loss as a dot. Redrawn whole on each point.

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 640;
const HEIGHT = 220;
const PAD = { left: 56, right: 12, top: 12, bottom: 32 };

/**
 * @param {string} tag
 * @param {Record<string, string | number>} attributes
 * @param {...(Node | string)} children
 */
function svg(tag, attributes, ...children) {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value));
  element.append(...children);
  return element;
}

/** @param {number} value */
const lossText = (value) => (value >= 100 || value < 0.01 ? value.toExponential(2) : value.toFixed(3));

/**
 * @param {HTMLElement} container where the chart goes; its text says "no points yet" until one arrives
 * @param {HTMLElement} summary a sentence for screen readers and tests: where the loss started and is now
 */
export function lossChart(container, summary) {
  /** @type {Array<[number, number]>} step, loss; kept in step order */
  const train = [];
  /** @type {Array<[number, number]>} */
  const validation = [];
  /** @type {Set<number>} epochs already drawn */
  const epochs = new Set();
  let totalSteps = 1;

  /** @param {number} step @param {number} loss */
  const addTrainPoint = (step, loss) => {
    if (!Number.isFinite(loss) || train.some(([known]) => known === step)) return;
    train.push([step, loss]);
    train.sort((a, b) => a[0] - b[0]);
  };

  const draw = () => {
    const points = [...train, ...validation];
    if (points.length === 0) return;
    const maxStep = Math.max(totalSteps, ...points.map(([step]) => step));
    const losses = points.map(([, loss]) => loss);
    let low = Math.min(...losses);
    let high = Math.max(...losses);
    if (high === low) {
      high += 0.5;
      low = Math.max(0, low - 0.5);
    }
    const x = (/** @type {number} */ step) => PAD.left + (step / maxStep) * (WIDTH - PAD.left - PAD.right);
    const y = (/** @type {number} */ loss) =>
      PAD.top + ((high - loss) / (high - low)) * (HEIGHT - PAD.top - PAD.bottom);
    const line = (/** @type {Array<[number, number]>} */ series) =>
      series.map(([step, loss]) => `${x(step).toFixed(1)},${y(loss).toFixed(1)}`).join(" ");

    const chart = svg(
      "svg",
      { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, class: "loss-chart", "aria-hidden": "true" },
      svg("line", {
        x1: PAD.left,
        y1: HEIGHT - PAD.bottom,
        x2: WIDTH - PAD.right,
        y2: HEIGHT - PAD.bottom,
        class: "axis",
      }),
      svg("line", { x1: PAD.left, y1: PAD.top, x2: PAD.left, y2: HEIGHT - PAD.bottom, class: "axis" }),
      svg("text", { x: PAD.left - 6, y: PAD.top + 4, class: "tick end" }, lossText(high)),
      svg("text", { x: PAD.left - 6, y: HEIGHT - PAD.bottom, class: "tick end" }, lossText(low)),
      svg("text", { x: PAD.left, y: HEIGHT - 10, class: "tick" }, "step 0"),
      svg("text", { x: WIDTH - PAD.right, y: HEIGHT - 10, class: "tick end" }, `step ${maxStep}`),
      svg("polyline", { points: line(train), class: "train", "data-points": train.length }),
      ...validation.map(([step, loss]) =>
        svg("circle", { cx: x(step), cy: y(loss), r: 4, class: "validation" }),
      ),
    );
    container.replaceChildren(chart);

    const parts = [];
    const first = train[0];
    const last = train.at(-1);
    if (first && last) {
      parts.push(
        `Training loss ${lossText(first[1])} at step ${first[0]}, ${lossText(last[1])} at step ${last[0]}.`,
      );
    }
    const lastValidation = validation.at(-1);
    if (lastValidation) {
      parts.push(`Validation loss ${lossText(lastValidation[1])} after step ${lastValidation[0]}.`);
    }
    summary.textContent = parts.join(" ");
  };

  return {
    /** @param {number} steps the job's total, the x axis's end */
    setTotalSteps(steps) {
      totalSteps = Math.max(1, steps);
    },
    /**
     * @param {number} step
     * @param {number} loss
     */
    addProgress(step, loss) {
      addTrainPoint(step, loss);
      draw();
    },
    /**
     * An epoch's figures, drawn once however often they arrive.
     * @param {{ epoch: number, last_step: number, train_loss: number, val_loss: number | null }} epoch
     */
    addEpoch(epoch) {
      if (epochs.has(epoch.epoch)) return;
      epochs.add(epoch.epoch);
      addTrainPoint(epoch.last_step, epoch.train_loss);
      if (epoch.val_loss !== null && Number.isFinite(epoch.val_loss)) {
        validation.push([epoch.last_step, epoch.val_loss]);
      }
      draw();
    },
  };
}
