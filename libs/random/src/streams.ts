/**
 * First stream word of each use of the generator, so that two uses with the
 * same seed never draw the same numbers.
 */
export const RandomStream = {
  parameterInit: 1,
  samplerShuffle: 2,
  dropout: 3,
  shiftAugment: 4,
  sampling: 5,
  growth: 6,
  calibration: 7,
} as const;
