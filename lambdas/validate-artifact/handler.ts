// Placeholder so the CDK app can bundle this entry point while the handler is being written.
export const handler = async (): Promise<never> => {
  throw new Error('not implemented yet');
};
