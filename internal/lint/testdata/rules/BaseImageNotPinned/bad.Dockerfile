FROM node
USER node
CMD ["node", "app.js"]
