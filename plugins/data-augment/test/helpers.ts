// Shared stage fixtures live in @leantune/testing; the local names stay for these tests.
export { quietLog as quiet, stageContext, handRecord as rec, handDataset as dataset, memoryDataPlugin as memoryData } from '@leantune/testing';
