console.log(`main ${process.env.INPUT_TAG}`);
